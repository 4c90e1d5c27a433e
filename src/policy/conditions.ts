/**
 * Evaluates the declarative conditions of policy rules against a request and says, in plain
 * words, what was found and what was expected, so a denial explains itself in the ticket.
 */
import type { Attestation } from '../engine/model.ts';
import type { Condition, PolicyInput } from './types.ts';

/** Result of one condition: whether it holds and a sentence fragment explaining why. */
export interface ConditionResult {
  pass: boolean;
  /** For a pass: what made it hold. For a fail: what was found and what was expected. */
  detail: string;
}

const MISSING = Symbol('missing');

/** Reads `a.b.c` or the JSON pointer `/a/b/c` out of params. */
export function readParam(params: Record<string, unknown>, path: string): unknown {
  const segs = path.startsWith('/')
    ? path.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    : path.split('.');
  let node: unknown = params;
  for (const s of segs) {
    if (node === null || typeof node !== 'object' || !(s in (node as object))) return MISSING;
    node = (node as Record<string, unknown>)[s];
  }
  return node === undefined ? MISSING : node;
}

function show(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** First attestation of `kind` on the input's version, if any. */
export function findAttestation(input: PolicyInput, kind: string): Attestation | undefined {
  return input.attestations.find((a) => a.kind === kind);
}

/** "postgres-database 1.4.0 is qa-signed (alice, 2026-11-20)" */
export function attestationText(input: PolicyInput, a: Attestation): string {
  return `${input.bundle} ${input.version ?? ''}`.trim() + ` is ${a.kind} (${a.by}, ${a.at.slice(0, 10)})`;
}

/**
 * Evaluates `c` against `input`. Never throws for odd data: a missing or mistyped value fails
 * the check with a detail saying so.
 */
export function evaluateCondition(c: Condition, input: PolicyInput): ConditionResult {
  switch (c.kind) {
    case 'attestation': {
      const subject = `${input.bundle} ${input.version ?? ''}`.trim();
      if (!input.version) return { pass: false, detail: `no version of ${input.bundle} was given, so it cannot be ${c.attestation}` };
      const a = findAttestation(input, c.attestation);
      return a ? { pass: true, detail: attestationText(input, a) } : { pass: false, detail: `${subject} is not ${c.attestation}` };
    }
    case 'all': {
      const rs = c.of.map((x) => evaluateCondition(x, input));
      const failed = rs.filter((r) => !r.pass);
      return failed.length
        ? { pass: false, detail: failed.map((r) => r.detail).join('; ') }
        : { pass: true, detail: rs.map((r) => r.detail).join('; ') };
    }
    case 'any': {
      const rs = c.of.map((x) => evaluateCondition(x, input));
      const ok = rs.find((r) => r.pass);
      if (ok) return ok;
      return { pass: false, detail: rs.length > 1 ? `none of these holds: ${rs.map((r) => r.detail).join('; ')}` : rs[0]?.detail ?? 'nothing holds' };
    }
    case 'not': {
      const r = evaluateCondition(c.of, input);
      return r.pass ? { pass: false, detail: `${r.detail}, which is not allowed here` } : { pass: true, detail: r.detail };
    }
    default:
      return compare(c, input);
  }
}

function subjectValue(c: Extract<Condition, { path: string }>, input: PolicyInput): { name: string; value: unknown } {
  if (c.kind === 'param') return { name: input.paramLabels?.[c.path] ?? c.path, value: readParam(input.params, c.path) };
  if (c.kind === 'label') {
    const v = input.environment.labels[c.path];
    return { name: `label ${c.path} of ${input.environment.name}`, value: v === undefined ? MISSING : v };
  }
  switch (c.path) {
    case 'bundle':
      return { name: 'bundle', value: input.bundle };
    case 'version':
      return { name: 'version', value: input.version ?? MISSING };
    case 'kind':
      return { name: 'request kind', value: input.kind };
    case 'environment':
      return { name: 'environment', value: input.environment.name };
    case 'destructive':
      return { name: 'destructive plan', value: input.plan ? input.plan.destructive : MISSING };
    case 'cost_delta':
      return { name: 'monthly cost change (USD)', value: input.costDelta ?? MISSING };
    case 'emergency':
      return { name: 'emergency', value: input.emergency === true };
    default:
      return { name: c.path, value: MISSING };
  }
}

const BOUND_WORDS = { lt: 'below', lte: 'at most', gt: 'above', gte: 'at least' } as const;

function compare(c: Extract<Condition, { path: string }>, input: PolicyInput): ConditionResult {
  const { name, value } = subjectValue(c, input);
  const missing = value === MISSING;
  const found = missing ? `${name} is not set` : `${name} is ${show(value)}`;
  const fail = (want: string): ConditionResult => ({ pass: false, detail: `${found}, ${want}` });
  const ok = (extra?: string): ConditionResult => ({ pass: true, detail: extra ? `${found} (${extra})` : found });
  switch (c.op) {
    case 'exists':
      return (!missing) === c.value ? ok() : { pass: false, detail: c.value ? `${name} is not set` : `${name} must not be set` };
    case 'equals':
      return !missing && value === c.value ? ok() : fail(`must be ${show(c.value)}`);
    case 'not_equals':
      return missing || value !== c.value ? ok(`not ${show(c.value)}`) : { pass: false, detail: `${name} must not be ${show(c.value)}` };
    case 'in': {
      const list = c.value as unknown[];
      return !missing && list.includes(value) ? ok() : fail(`must be one of ${list.map(show).join(', ')}`);
    }
    case 'not_in': {
      const list = c.value as unknown[];
      return missing || !list.includes(value) ? ok() : fail('which is not allowed here');
    }
    case 'matches':
      return typeof value === 'string' && new RegExp(c.value as string).test(value) ? ok() : fail(`must match ${String(c.value)}`);
    case 'lt':
    case 'lte':
    case 'gt':
    case 'gte': {
      const bound = c.value as number;
      const want = `${BOUND_WORDS[c.op]} ${bound}`;
      if (typeof value !== 'number' || Number.isNaN(value)) return fail(`must be a number ${want}`);
      const holds = c.op === 'lt' ? value < bound : c.op === 'lte' ? value <= bound : c.op === 'gt' ? value > bound : value >= bound;
      return holds ? ok(want) : fail(`must be ${want}`);
    }
  }
}
