/**
 * Reads the policy file: YAML -> JSON Schema (ajv) -> semantic checks -> typed {@link Policy}.
 * Every mistake is reported with the line it sits on and the rule it breaks, all at once, so
 * ops fix the file in one go instead of one start-up per mistake.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { DateTime, IANAZone } from 'luxon';
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { readFileSync } from 'node:fs';
import { ValidationError, type FieldIssue } from '../engine/errors.ts';
import type { Labels, RequestKind } from '../engine/model.ts';
import { parseDuration } from './duration.ts';
import { normalizeDriftPolicy, type RawDriftPolicy } from './drift-policy.ts';
import { normalizeLease, type RawLease } from './lease.ts';
import type {
  ApproverRequirement,
  Blackout,
  Condition,
  EnvironmentPolicy,
  LocalTime,
  Operator,
  Policy,
  PolicyRule,
  Requesters,
  WeeklyWindow,
  Weekday,
  WindowPolicy,
} from './types.ts';

/** Approvals last this long when the file says nothing. */
export const DEFAULT_APPROVAL_TTL = '72h';

const WEEKDAYS: Record<string, Weekday> = { mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6, sun: 7 };
const SUBJECTS = ['param', 'label', 'field', 'attestation', 'all', 'any', 'not'] as const;
const OPERATORS: Operator[] = ['equals', 'not_equals', 'in', 'not_in', 'lt', 'lte', 'gt', 'gte', 'exists', 'matches'];

/** The JSON Schema of the policy file (also shipped for editors). */
export function policySchema(): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL('./policy-schema.json', import.meta.url), 'utf8')) as Record<string, unknown>;
}

/** Raw shapes after schema validation (snake_case, as written). */
interface RawApprovers {
  groups: string[];
  count?: number;
  ttl?: string;
}
interface RawBlackout {
  reason: string;
  start?: string;
  end?: string;
  from_date?: string;
  to_date?: string;
  time_zone?: string;
}
interface RawRule {
  id: string;
  description?: string;
  when?: Record<string, unknown>;
  require: Record<string, unknown>;
  allow_reason?: string;
  deny_reason?: string;
  on_fail?: 'deny' | 'warn' | 'needs_approval';
  approvers?: RawApprovers;
}
interface RawEnvironment {
  name: string;
  description?: string;
  match?: { names?: string[]; labels?: Labels };
  requesters?: 'anyone' | { groups?: string[]; users?: string[] };
  kinds?: RequestKind[];
  approvals?: 'none' | RawApprovers;
  windows?: { time_zone?: string; weekly?: { days: string[]; start: string; end: string }[]; blackouts?: RawBlackout[] };
  emergency?: { allowed: boolean; approvals?: RawApprovers };
  decommission?: { with_consumers?: 'deny' | 'allow' };
  lease?: RawLease;
  rules?: RawRule[];
}
interface RawPolicy {
  version: 1;
  approval_ttl?: string;
  time_zone?: string;
  rules?: RawRule[];
  environments: RawEnvironment[];
  drift?: RawDriftPolicy;
}

type PathSeg = string | number;

/**
 * Validates and normalizes policy files. Holds the compiled schema; make one per process (or
 * use {@link parsePolicy} / {@link loadPolicy}).
 */
export class PolicyLoader {
  private readonly validate: ValidateFunction;

  constructor() {
    const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
    this.validate = ajv.compile(policySchema());
  }

  /**
   * Parses policy text. `file` names the source in messages (a base name; never a full path of
   * this machine in a ticket). Throws {@link ValidationError} listing every mistake with its line.
   */
  parse(text: string, file = 'policy.yaml'): Policy {
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
    const issues: FieldIssue[] = [];
    for (const e of doc.errors) {
      const line = e.linePos?.[0]?.line;
      issues.push({ pointer: '', file, line, message: `${line ? `line ${line}: ` : ''}${firstLine(e.message)} (rule: yaml ${e.code})` });
    }
    if (issues.length) throw new ValidationError(summary(file, issues), issues);

    const raw = doc.toJS() as unknown;
    const ctx = new IssueCollector(file, doc, lineCounter);
    if (!this.validate(raw)) {
      for (const err of this.validate.errors ?? []) ctx.schemaIssue(err, raw);
      ctx.throwIfAny();
    }
    const policy = normalize(raw as RawPolicy, file, ctx);
    ctx.throwIfAny();
    return policy;
  }
}

/** Parses policy text (see {@link PolicyLoader.parse}). */
export function parsePolicy(text: string, file = 'policy.yaml'): Policy {
  return new PolicyLoader().parse(text, file);
}

/**
 * Loads the policy from a file path (what `POLICY_FILE` points at) or from text.
 * Throws {@link ValidationError} naming line and rule for each mistake.
 */
export async function loadPolicy(source: { path: string } | { text: string; file?: string }): Promise<Policy> {
  if ('path' in source) {
    const text = await readFile(source.path, 'utf8');
    return parsePolicy(text, basename(source.path));
  }
  return parsePolicy(source.text, source.file);
}

// ---------------------------------------------------------------------------------------------
// Issues with lines

/** The first line of a yaml error, without the "at line 3, column 1:" we report ourselves. */
function firstLine(s: string): string {
  return s.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '').trim();
}

function summary(file: string, issues: FieldIssue[]): string {
  const n = issues.length;
  return `policy file ${file} has ${n} mistake${n === 1 ? '' : 's'}:\n${issues.map((i) => `  ${i.message}`).join('\n')}`;
}

function pointerToPath(pointer: string): PathSeg[] {
  if (!pointer) return [];
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^[0-9]+$/.test(s) ? Number(s) : s));
}

function pathToPointer(path: PathSeg[]): string {
  return path.map((s) => '/' + String(s).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

/** `environments[2].windows.weekly[0].start` */
function pathText(path: PathSeg[]): string {
  let out = '';
  for (const s of path) out += typeof s === 'number' ? `[${s}]` : out ? `.${s}` : s;
  return out || '(top level)';
}

/** Collects issues, each placed on a line of the YAML document. */
class IssueCollector {
  readonly issues: FieldIssue[] = [];
  constructor(
    private readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /** Line of the node at `path`; with `key`, the line of that key inside the map at `path`. */
  lineOf(path: PathSeg[], key?: string): number | undefined {
    let node: unknown = this.doc.contents;
    let best: unknown = node;
    for (const seg of path) {
      if (isSeq(node)) node = node.items[Number(seg)];
      else if (isMap(node)) node = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg))?.value;
      else node = undefined;
      if (!node) break;
      best = node;
    }
    if (key !== undefined && node && isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === key);
      if (pair && isScalar(pair.key)) best = pair.key;
    }
    const range = (best as YamlNode | undefined)?.range;
    return range ? this.lines.linePos(range[0]).line : undefined;
  }

  /** Adds one issue at `path` (`key`: a key inside it, for unknown or misplaced keys). */
  add(path: PathSeg[], message: string, rule: string, raw?: unknown, key?: string): void {
    const line = this.lineOf(path, key);
    const where = pathText(key !== undefined ? [...path, key] : path);
    const ruleId = raw === undefined ? undefined : enclosingRuleId(raw, path);
    const ctxText = ruleId ? ` in rule "${ruleId}"` : '';
    this.issues.push({
      pointer: pathToPointer(key !== undefined ? [...path, key] : path),
      file: this.file,
      line,
      message: `${line ? `line ${line}: ` : ''}${where}${ctxText}: ${message} (rule: ${rule})`,
    });
  }

  schemaIssue(err: ErrorObject, raw: unknown): void {
    // `if` only reports that its `then`/`else` failed; the branch's own error says what is wrong.
    if (err.keyword === 'if') return;
    const path = pointerToPath(err.instancePath);
    const p = err.params as Record<string, unknown>;
    const hint = (err.parentSchema as { description?: string } | undefined)?.description;
    switch (err.keyword) {
      case 'additionalProperties':
        this.add(path, `unknown key "${String(p.additionalProperty)}"`, 'schema additionalProperties', raw, String(p.additionalProperty));
        return;
      case 'required':
        this.add(path, `"${String(p.missingProperty)}" is missing`, 'schema required', raw);
        return;
      case 'enum':
        this.add(path, `must be one of: ${(p.allowedValues as unknown[]).join(', ')}`, 'schema enum', raw);
        return;
      case 'const':
        this.add(path, `must be ${JSON.stringify(p.allowedValue)}`, 'schema const', raw);
        return;
      case 'pattern':
        this.add(path, `must be ${hint ?? `text matching ${String(p.pattern)}`}`, 'schema pattern', raw);
        return;
      case 'uniqueItems':
        this.add(path, `lists the same value twice (items ${String(p.j)} and ${String(p.i)})`, 'schema uniqueItems', raw);
        return;
      default:
        this.add(path, err.message ?? 'is invalid', `schema ${err.keyword}`, raw);
    }
  }

  throwIfAny(): void {
    if (!this.issues.length) return;
    const sorted = [...this.issues].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    throw new ValidationError(summary(this.file, sorted), sorted);
  }
}

/** The `id` of the policy rule that `path` sits inside, so a mistake names the rule it is in. */
function enclosingRuleId(raw: unknown, path: PathSeg[]): string | undefined {
  let node: unknown = raw;
  let found: string | undefined;
  for (let i = 0; i < path.length; i++) {
    if (node === null || typeof node !== 'object') break;
    node = (node as Record<string, unknown>)[String(path[i])];
    if (path[i - 1] === 'rules' && typeof path[i] === 'number' && node && typeof node === 'object') {
      const id = (node as { id?: unknown }).id;
      if (typeof id === 'string') found = id;
    }
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Normalization + semantic checks (what JSON Schema cannot say)

function normalize(raw: RawPolicy, file: string, ctx: IssueCollector): Policy {
  const checkZone = (zone: string | undefined, path: PathSeg[]): void => {
    if (zone !== undefined && !IANAZone.isValidZone(zone)) ctx.add(path, `"${zone}" is not an IANA time zone (for example Europe/Berlin)`, 'time zone', raw);
  };
  checkZone(raw.time_zone, ['time_zone']);
  const ttlMs = parseDuration(raw.approval_ttl ?? DEFAULT_APPROVAL_TTL) ?? 0;
  if (ttlMs <= 0) ctx.add(['approval_ttl'], 'must be longer than zero', 'approval ttl', raw);

  const ruleIds = new Map<string, string>();
  const rules = (raw.rules ?? []).map((r, i) => normalizeRule(r, ['rules', i], raw, ctx, ruleIds));

  const envNames = new Set<string>();
  const environments: EnvironmentPolicy[] = raw.environments.map((env, i) => {
    const base: PathSeg[] = ['environments', i];
    if (envNames.has(env.name)) ctx.add([...base, 'name'], `environment "${env.name}" is listed twice`, 'unique environment names', raw);
    envNames.add(env.name);

    const approvals = normalizeApprovers(env.approvals === 'none' ? undefined : env.approvals);
    const envTtl = env.approvals && env.approvals !== 'none' && env.approvals.ttl ? parseDuration(env.approvals.ttl) ?? ttlMs : ttlMs;
    if (envTtl <= 0) ctx.add([...base, 'approvals', 'ttl'], 'must be longer than zero', 'approval ttl', raw);

    let windows: WindowPolicy | undefined;
    if (env.windows) {
      const zone = env.windows.time_zone ?? raw.time_zone;
      checkZone(env.windows.time_zone, [...base, 'windows', 'time_zone']);
      if (!zone) ctx.add([...base, 'windows'], 'needs a time_zone (here or at the top of the file)', 'windows need a time zone', raw);
      const tz = zone && IANAZone.isValidZone(zone) ? zone : 'UTC';
      const weekly: WeeklyWindow[] = (env.windows.weekly ?? []).map((w, j) => {
        const start = parseLocalTime(w.start);
        const end = parseLocalTime(w.end);
        if (start.hour * 60 + start.minute === end.hour * 60 + end.minute) {
          ctx.add([...base, 'windows', 'weekly', j, 'end'], 'must differ from start (write 00:00-24:00 for a whole day)', 'window length', raw);
        }
        return { days: w.days.map((d) => WEEKDAYS[d]), start, end };
      });
      const blackouts = (env.windows.blackouts ?? []).map((b, j) => normalizeBlackout(b, [...base, 'windows', 'blackouts', j], tz, raw, ctx, checkZone));
      windows = { timeZone: tz, weekly, blackouts: blackouts.filter((b): b is Blackout => b !== null) };
    }

    let emergency: EnvironmentPolicy['emergency'];
    if (env.emergency) {
      if (env.emergency.allowed && !env.emergency.approvals) {
        ctx.add([...base, 'emergency'], 'an allowed emergency path needs "approvals" (who signs off on the extra approval)', 'emergency needs approvers', raw);
      }
      if (!env.windows) ctx.add([...base, 'emergency'], 'has no effect without "windows" (the emergency path is for changes outside a window)', 'emergency needs windows', raw);
      emergency = { allowed: env.emergency.allowed, approvals: normalizeApprovers(env.emergency.approvals) ?? undefined };
    }

    const requesters: Requesters =
      env.requesters === undefined || env.requesters === 'anyone'
        ? 'anyone'
        : { groups: env.requesters.groups ?? [], users: env.requesters.users ?? [] };

    return {
      name: env.name,
      description: env.description,
      match: env.match ? { names: env.match.names, labels: env.match.labels } : { names: [env.name] },
      requesters,
      kinds: env.kinds,
      approvals,
      approvalTtlMs: envTtl,
      windows,
      emergency,
      ...(env.decommission ? { decommission: { withConsumers: env.decommission.with_consumers ?? 'deny' } } : {}),
      ...(env.lease ? { lease: normalizeLease(env.lease, [...base, 'lease'], (path, message, what) => ctx.add(path, message, what, raw)) } : {}),
      rules: (env.rules ?? []).map((r, j) => normalizeRule(r, [...base, 'rules', j], raw, ctx, ruleIds)),
    };
  });

  const drift = raw.drift ? normalizeDriftPolicy(raw.drift) : undefined;
  return { version: 1, file, approvalTtlMs: ttlMs, timeZone: raw.time_zone ?? 'UTC', rules, environments, ...(drift ? { drift } : {}) };
}

function normalizeApprovers(a: RawApprovers | undefined): ApproverRequirement | null {
  return a ? { groups: a.groups, count: a.count ?? 1 } : null;
}

function parseLocalTime(s: string): LocalTime {
  const [h, m] = s.split(':').map(Number);
  return { hour: h, minute: m };
}

function normalizeBlackout(
  b: RawBlackout,
  path: PathSeg[],
  windowZone: string,
  raw: unknown,
  ctx: IssueCollector,
  checkZone: (z: string | undefined, p: PathSeg[]) => void,
): Blackout | null {
  checkZone(b.time_zone, [...path, 'time_zone']);
  const zone = b.time_zone && IANAZone.isValidZone(b.time_zone) ? b.time_zone : windowZone;
  const instant = b.start !== undefined || b.end !== undefined;
  const dates = b.from_date !== undefined || b.to_date !== undefined;
  if (instant === dates || (instant && (b.start === undefined || b.end === undefined)) || (dates && (b.from_date === undefined || b.to_date === undefined))) {
    ctx.add(path, 'needs either "start" and "end" (date-times) or "from_date" and "to_date" (local dates)', 'blackout period', raw);
    return null;
  }
  let start: DateTime;
  let end: DateTime;
  if (instant) {
    // An ISO text with Z or an offset is an absolute instant; without, it is local time in the zone.
    start = DateTime.fromISO(b.start!, { zone, setZone: false });
    end = DateTime.fromISO(b.end!, { zone, setZone: false });
    if (!start.isValid) ctx.add([...path, 'start'], `"${b.start}" is not a valid date-time`, 'blackout date', raw);
    if (!end.isValid) ctx.add([...path, 'end'], `"${b.end}" is not a valid date-time`, 'blackout date', raw);
  } else {
    start = DateTime.fromISO(b.from_date!, { zone }).startOf('day');
    end = DateTime.fromISO(b.to_date!, { zone }).startOf('day').plus({ days: 1 });
    if (!start.isValid) ctx.add([...path, 'from_date'], `"${b.from_date}" is not a valid date`, 'blackout date', raw);
    if (!end.isValid) ctx.add([...path, 'to_date'], `"${b.to_date}" is not a valid date`, 'blackout date', raw);
  }
  if (!start.isValid || !end.isValid) return null;
  if (end <= start) {
    ctx.add([...path, instant ? 'end' : 'to_date'], `must be after ${instant ? 'start' : 'from_date'}`, 'blackout period', raw);
    return null;
  }
  return { reason: b.reason, start: start.toJSDate(), end: end.toJSDate(), source: 'policy' };
}

function normalizeRule(r: RawRule, path: PathSeg[], raw: unknown, ctx: IssueCollector, ids: Map<string, string>): PolicyRule {
  const where = pathText(path);
  const seen = ids.get(r.id);
  if (seen) ctx.add([...path, 'id'], `rule id "${r.id}" is already used at ${seen}`, 'unique rule ids', raw);
  else ids.set(r.id, where);
  const onFail = r.on_fail ?? 'deny';
  if (onFail === 'needs_approval' && !r.approvers) ctx.add(path, 'on_fail: needs_approval needs "approvers"', 'approval rule needs approvers', raw);
  if (onFail !== 'needs_approval' && r.approvers) ctx.add(path, `"approvers" only applies with on_fail: needs_approval`, 'approvers without approval', raw, 'approvers');
  return {
    id: r.id,
    description: r.description,
    when: r.when ? parseCondition(r.when, [...path, 'when'], raw, ctx) : undefined,
    require: parseCondition(r.require, [...path, 'require'], raw, ctx),
    allowReason: r.allow_reason,
    denyReason: r.deny_reason,
    onFail,
    approvers: normalizeApprovers(r.approvers) ?? undefined,
  };
}

function parseCondition(c: Record<string, unknown>, path: PathSeg[], raw: unknown, ctx: IssueCollector): Condition {
  const subjects = SUBJECTS.filter((s) => s in c);
  const ops = OPERATORS.filter((o) => o in c);
  const fallback: Condition = { kind: 'all', of: [] };
  if (subjects.length !== 1) {
    ctx.add(
      path,
      subjects.length === 0
        ? `says nothing to check: use one of ${SUBJECTS.join(', ')}`
        : `mixes ${subjects.join(' and ')}: one check per condition (combine with all/any)`,
      'condition subject',
      raw,
    );
    return fallback;
  }
  const subject = subjects[0];
  if (subject === 'all' || subject === 'any' || subject === 'not' || subject === 'attestation') {
    if (ops.length) {
      ctx.add(path, `"${ops[0]}" does not apply to ${subject}`, 'condition operator', raw, ops[0]);
      return fallback;
    }
    if (subject === 'attestation') return { kind: 'attestation', attestation: c.attestation as string };
    if (subject === 'not') return { kind: 'not', of: parseCondition(c.not as Record<string, unknown>, [...path, 'not'], raw, ctx) };
    const list = c[subject] as Record<string, unknown>[];
    return { kind: subject, of: list.map((x, i) => parseCondition(x, [...path, subject, i], raw, ctx)) };
  }
  if (ops.length !== 1) {
    ctx.add(path, ops.length ? `has ${ops.join(' and ')}: one operator per condition` : `"${subject}" needs an operator: one of ${OPERATORS.join(', ')}`, 'condition operator', raw);
    return fallback;
  }
  const op = ops[0];
  const value = c[op];
  if (op === 'matches') {
    try {
      new RegExp(value as string);
    } catch {
      ctx.add([...path, 'matches'], 'is not a valid regular expression', 'condition operator', raw);
    }
  }
  if (subject === 'field') {
    const numeric = c.field === 'cost_delta';
    const bool = c.field === 'destructive' || c.field === 'emergency';
    if (bool && !['equals', 'not_equals'].includes(op)) ctx.add([...path, op], `${String(c.field)} is true or false: use equals`, 'condition operator', raw);
    else if (['lt', 'lte', 'gt', 'gte'].includes(op) && !numeric) ctx.add([...path, op], `cannot compare ${String(c.field)} by size`, 'condition operator', raw);
  }
  return { kind: subject, path: c[subject] as string, op, value };
}
