/**
 * The inventory: projects, environments, packages, requests and deployments in Redis.
 *
 * Layout (all under `prefix`, default `ts:`):
 * - `rec:<kind>`            hash id -> record JSON (one HVALS lists a kind)
 * - `idx:<kind>:all`        sorted set of ids, scored by creation order (the audit seq of the create)
 * - `idx:<kind>:<field>:<value>` sorted set of ids per indexed field, same score
 * - `package:summary`       hash id -> small JSON {@link PackageSummary} (cost queries read only this)
 * - `idx:package:cost`      sorted set of package ids scored by monthly cost
 *
 * Every write is a compare-and-set on `revision` (create: the id must be free) applied in one
 * Lua script together with its index changes and its audit event ({@link AuditLog.commit}),
 * so records, indexes and the audit chain never disagree.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { AlreadyExistsError, ConflictError, NotFoundError, SystemError, ValidationError, type FieldIssue } from './errors.ts';
import {
  systemClock,
  type AuditEvent,
  type Clock,
  type ConnectionBinding,
  type Deployment,
  type DeploymentAction,
  type DeploymentStatus,
  type Environment,
  type Labels,
  type Package,
  type PackageStatus,
  type Project,
  type Request,
  type RequestState,
  type SurfaceName,
} from './model.ts';
import { LuaScript } from './audit-lua.ts';
import { AuditLog, canonicalJson, type AuditContext, type AuditedWrite, type WriteOp } from './audit.ts';
import { redactRecord } from './redact.ts';
import type { SecretBox } from './secret-box.ts';
import { assertTransition } from './request-lifecycle.ts';
import { Outbox, type OutboxEntry } from './outbox.ts';
import { LockLostError, type LeaseFence } from './package-lock.ts';

/** The kinds of record the inventory stores. */
export type RecordKind = 'project' | 'environment' | 'package' | 'request' | 'deployment';

/** Record type per kind. */
export interface RecordTypes {
  project: Project;
  environment: Environment;
  package: Package;
  request: Request;
  deployment: Deployment;
}

/** A record as handed to {@link Inventory.create}: everything but the fields the inventory sets. */
export type NewRecord<K extends RecordKind> = Omit<RecordTypes[K], 'revision' | 'createdAt' | 'updatedAt'>;

/** Index filters per kind for {@link Inventory.list}; several combine with AND. */
export interface ListFilters {
  project: Record<string, never>;
  environment: { project?: string };
  package: { project?: string; environment?: string; bundle?: string; status?: PackageStatus };
  request: {
    state?: RequestState;
    project?: string;
    environment?: string;
    package?: string;
    bundle?: string;
    /** The ticket (or other origin) a request came from. */
    origin?: { surface: SurfaceName; ref: string };
  };
  deployment: { package?: string; request?: string; status?: DeploymentStatus };
}

/** Paging of {@link Inventory.list}; records come in creation order. */
export interface ListOptions {
  /** Oldest first (`asc`, default) or newest first. */
  order?: 'asc' | 'desc';
  offset?: number;
  limit?: number;
}

/** The few package fields cost and inventory queries need, kept in one small hash. */
export interface PackageSummary {
  id: string;
  project: string;
  environment: string;
  name: string;
  bundle: string;
  version: string;
  status: PackageStatus;
  costMonthly?: number;
}

/** What a read scope keeps (see {@link Inventory.readScope}). */
interface ReadScope {
  /** Kinds whose records are kept (undefined: all). */
  kinds: ReadonlySet<RecordKind> | undefined;
  /** Stored forms read or written, by `<kind>:<id>` (null: no such record). */
  seen: Map<string, string | null>;
  /** Ids of index ranges read, by index key, order and ranks; cleared by every write in the scope. */
  ranges: Map<string, string[]>;
}

/** Options of an update: the audit verb and a reason. */
export interface UpdateOptions {
  /** Audit action (default `<kind>.update`), for example `request.transition`. */
  action?: string;
  /** Why, recorded on the audit event. */
  reason?: string;
  /** Instant of the write (default: the clock), so a caller can stamp its own data (request history) with the same one. */
  at?: Date;
  /** Work this change owes (notices, jobs), stored in the outbox in the same atomic step. */
  outbox?: readonly OutboxEntry[];
  /** The package lock this write is made under: refused with {@link LockLostError}, inside the write, once lost. */
  fence?: LeaseFence;
  /**
   * The record as this inventory handed it to the caller (a read's or a write's result): the
   * update starts from what was stored then, without reading it again, when that is the expected
   * revision (a record's content at a revision never changes; later changes the caller made to
   * the object are ignored). The revision is checked inside the write as always.
   */
  current?: object;
}

/** The audit write's fence for a lease fence (key and value only), or nothing. */
function fenceOf(fence: LeaseFence | undefined): { fence?: { key: string; value: string } } {
  return fence ? { fence: { key: fence.key, value: fence.value } } : {};
}

/**
 * A record write worked out but not yet stored: the record as it will be, its audit event and
 * its guarded operations. {@link Inventory.commit} stores one or several in one atomic step.
 */
export interface PreparedWrite<K extends RecordKind = RecordKind> {
  kind: K;
  record: RecordTypes[K];
  /** The revision the write expects (an update), for the conflict error. */
  expectedRevision?: number;
  /** The lock the write is made under (for the error when it is refused). */
  fence?: LeaseFence;
  audited: AuditedWrite;
}

/**
 * JSON pointers (into a whole record, `*` matching any key) of the values that are secrets: the
 * `$md.sensitive` params and artifact fields of the package's or request's bundle. They are
 * masked in the audit log, and sealed in Redis when the inventory has a {@link SecretBox}.
 */
export type SensitivePointersLookup = (kind: RecordKind, record: Record<string, unknown>) => string[];

/** Options of {@link Inventory}. */
export interface InventoryOptions {
  redis: Redis;
  /** Key prefix (default `ts:`). */
  prefix?: string;
  clock?: Clock;
  /** Audit log to write to; default: one on the same redis, prefix and clock. */
  audit?: AuditLog;
  /** Where a record's secrets are (default {@link wholeArtifacts}); the workflow wires the registry's `$md.sensitive` marks. */
  sensitivePointersFor?: SensitivePointersLookup;
  /** Seals the secrets of every record written and opens them on read; without it records are stored as they are. */
  secretBox?: SecretBox;
  /** Outbox of owed work; default: one on the same redis and prefix. */
  outbox?: Outbox;
}

/**
 * Default sensitivity: a package's produced artifacts carry credentials (passwords marked
 * `$md.sensitive` in their artifact definition), and without the registry this layer does not
 * know which fields, so each artifact counts as sensitive whole.
 */
export const wholeArtifacts: SensitivePointersLookup = (kind) => (kind === 'package' ? ['/artifacts/*'] : []);

const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const MAX_SLUG = 100;
const SURFACES: readonly SurfaceName[] = ['jira', 'servicenow', 'http', 'cli', 'engine', 'reality'];
const PACKAGE_STATUSES: readonly PackageStatus[] = ['new', 'provisioning', 'ready', 'failed', 'decommissioning', 'decommissioned'];
const DEPLOYMENT_ACTIONS: readonly DeploymentAction[] = ['plan', 'apply', 'destroy', 'observe'];
const DEPLOYMENT_STATUSES: readonly DeploymentStatus[] = ['queued', 'running', 'succeeded', 'failed'];
/** Fields that make up a record's identity or its id, by kind: an update may not change them. */
const IMMUTABLE: Record<RecordKind, readonly string[]> = {
  project: [],
  environment: ['project', 'name'],
  package: ['project', 'environment', 'name'],
  request: ['kind', 'origin', 'actor'],
  deployment: ['package', 'action'],
};
/**
 * What of a record the audit log sees, before redaction. Deployment step logs are left out
 * (only their line count is kept): they are stored, redacted, on the deployment itself, and
 * copying a growing log into every event would make each append cost more than the last.
 */
function auditView(kind: RecordKind, record: Record<string, unknown>): Record<string, unknown> {
  if (kind !== 'deployment' || !Array.isArray(record.steps)) return record;
  const steps = (record.steps as Record<string, unknown>[]).map((step) => {
    const { log, ...rest } = step;
    return { ...rest, logLines: Array.isArray(log) ? log.length : 0 };
  });
  return { ...record, steps };
}

/** Members left out of update diffs: `updatedAt` is the event's `at`; request history is the audit trail itself. */
const DIFF_IGNORED = new Set(['updatedAt', 'history']);

/** Throws a {@link ValidationError} naming `field` unless `value` is a lowercase slug. */
export function assertSlug(field: string, value: unknown): asserts value is string {
  const issue = slugIssue(field, value);
  if (issue) throw new ValidationError(`${field}: ${issue.message}`, [issue]);
}

function slugIssue(field: string, value: unknown): FieldIssue | undefined {
  const pointer = `/${field}`;
  if (typeof value !== 'string' || value.length === 0) return { pointer, field, message: 'is required' };
  if (value.length > MAX_SLUG) return { pointer, field, message: `must be at most ${MAX_SLUG} characters` };
  if (!SLUG.test(value)) {
    return { pointer, field, message: `"${value}" must be lowercase letters, digits and single hyphens (for example checkout-api)` };
  }
  return undefined;
}

/** Environment id from its project and name: `checkout` + `staging` -> `checkout-staging`. */
export function environmentId(project: string, name: string): string {
  return `${project}-${name}`;
}

/** Package id from its environment id and name: `checkout-staging` + `orders-db` -> `checkout-staging-orders-db`. */
export function packageId(environment: string, name: string): string {
  return `${environment}-${name}`;
}

/** A fresh random id with a readable prefix: `req_`, `dep_`. Base32, 16 characters (80 bits). */
export function randomId(prefix: 'req' | 'dep'): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const bytes = randomBytes(16);
  let out = '';
  for (const b of bytes) out += alphabet[b & 31];
  return `${prefix}_${out}`;
}

/** Checks an {@link AuditContext} (actor and surface are required on every write). */
export function assertAuditContext(ctx: AuditContext): void {
  const issues: FieldIssue[] = [];
  if (!ctx || typeof ctx.actor !== 'string' || ctx.actor.length === 0) issues.push({ pointer: '/actor', field: 'actor', message: 'is required' });
  if (!ctx || !SURFACES.includes(ctx.surface)) issues.push({ pointer: '/surface', field: 'surface', message: `must be one of ${SURFACES.join(', ')}` });
  if (issues.length) throw new ValidationError('audit context is incomplete', issues);
}

function deepCopy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Top-level members that differ (by canonical JSON); a member missing on one side shows as null. */
function diff(before: Record<string, unknown>, after: Record<string, unknown>): { before: Record<string, unknown>; after: Record<string, unknown> } {
  const b: Record<string, unknown> = {};
  const a: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (DIFF_IGNORED.has(key)) continue;
    if (canonicalJson(before[key]) === canonicalJson(after[key])) continue;
    b[key] = before[key] ?? null;
    a[key] = after[key] ?? null;
  }
  return { before: b, after: a };
}

/** Projects, environments, packages, requests and deployments, with audited compare-and-set writes. */
export class Inventory {
  readonly prefix: string;
  readonly audit: AuditLog;
  /** Work owed by record changes, written in the same atomic steps (see {@link UpdateOptions.outbox}). */
  readonly outbox: Outbox;
  /** The clock records are stamped with (shared with services built on the inventory). */
  readonly clock: Clock;
  private readonly redis: Redis;
  private readonly sensitivePointersFor: SensitivePointersLookup;
  private readonly secretBox: SecretBox | undefined;
  /** Stored forms of the record objects this inventory handed out (see {@link UpdateOptions.current}). */
  private readonly handedOut = new WeakMap<object, string>();
  /** The read scope of the running step, if any (see {@link readScope}). */
  private readonly scope = new AsyncLocalStorage<ReadScope>();

  constructor(options: InventoryOptions) {
    this.redis = options.redis;
    this.prefix = options.prefix ?? 'ts:';
    this.clock = options.clock ?? systemClock;
    this.audit = options.audit ?? new AuditLog({ redis: this.redis, prefix: this.prefix, clock: this.clock });
    this.sensitivePointersFor = options.sensitivePointersFor ?? wholeArtifacts;
    this.secretBox = options.secretBox;
    this.outbox = options.outbox ?? new Outbox({ redis: this.redis, prefix: this.prefix });
  }

  // -------------------------------------------------------------------------------------------
  // Secrets: masked in audit events, sealed at rest

  /** What the audit log may store of `shown` (all or some members of `whole`): its secrets masked. */
  private redact(kind: RecordKind, shown: Record<string, unknown>, whole: object): Record<string, unknown> {
    return redactRecord(shown, this.sensitivePointersFor(kind, whole as Record<string, unknown>), whole);
  }

  /** The stored form of a record: its JSON, secrets sealed when there is a secret box. */
  private serialize(kind: RecordKind, record: object): string {
    if (!this.secretBox) return JSON.stringify(record);
    return JSON.stringify(this.secretBox.sealRecord(record, this.sensitivePointersFor(kind, record as Record<string, unknown>)));
  }

  /** A record from its stored form, sealed values opened. */
  private parse<T>(raw: string): T {
    const record = JSON.parse(raw) as T;
    return this.secretBox ? this.secretBox.openRecord(record) : record;
  }

  // -------------------------------------------------------------------------------------------
  // Keys and indexes

  private recordsKey(kind: RecordKind): string {
    return `${this.prefix}rec:${kind}`;
  }
  private indexKey(kind: RecordKind, field: string, value: string): string {
    return `${this.prefix}idx:${kind}:${field}:${value}`;
  }
  private allKey(kind: RecordKind): string {
    return `${this.prefix}idx:${kind}:all`;
  }
  private get summaryKey(): string {
    return `${this.prefix}package:summary`;
  }
  private get costKey(): string {
    return `${this.prefix}idx:package:cost`;
  }

  /** Index keys a record belongs to (besides `all`). */
  private indexesOf<K extends RecordKind>(kind: K, record: RecordTypes[K]): string[] {
    const pairs: [string, string | undefined][] = [];
    switch (kind) {
      case 'environment': {
        const r = record as Environment;
        pairs.push(['project', r.project]);
        break;
      }
      case 'package': {
        const r = record as Package;
        pairs.push(['project', r.project], ['environment', r.environment], ['bundle', r.bundle], ['status', r.status]);
        break;
      }
      case 'request': {
        const r = record as Request;
        pairs.push(
          ['state', r.state],
          ['project', r.project],
          ['environment', r.environment],
          ['package', r.package],
          ['bundle', r.bundle],
          ['origin', `${r.origin.surface}:${r.origin.ref}`],
        );
        break;
      }
      case 'deployment': {
        const r = record as Deployment;
        pairs.push(['package', r.package], ['request', r.request], ['status', r.status]);
        break;
      }
    }
    return pairs.filter((p): p is [string, string] => typeof p[1] === 'string' && p[1] !== '').map(([f, v]) => this.indexKey(kind, f, v));
  }

  private filterKeys<K extends RecordKind>(kind: K, filter: ListFilters[K]): string[] {
    const keys: string[] = [];
    for (const [field, value] of Object.entries(filter ?? {})) {
      if (value === undefined) continue;
      if (field === 'origin' && kind === 'request') {
        const o = value as { surface: string; ref: string };
        keys.push(this.indexKey(kind, 'origin', `${o.surface}:${o.ref}`));
      } else if (typeof value === 'string') {
        keys.push(this.indexKey(kind, field, value));
      } else {
        throw new ValidationError(`list ${kind}: filter ${field} must be a string`, [{ pointer: `/${field}`, field, message: 'must be a string' }]);
      }
    }
    return keys;
  }

  /** Operations that store `next` (replacing `prev`, if any) and keep every index consistent. */
  private recordOps<K extends RecordKind>(kind: K, next: RecordTypes[K], prev?: RecordTypes[K]): WriteOp[] {
    const ops: WriteOp[] = [{ op: 'hset', key: this.recordsKey(kind), field: next.id, value: this.serialize(kind, next) }];
    const nextIdx = this.indexesOf(kind, next);
    const prevIdx = prev ? this.indexesOf(kind, prev) : [];
    const all = this.allKey(kind);
    for (const key of prevIdx) if (!nextIdx.includes(key)) ops.push({ op: 'zrem', key, member: next.id });
    for (const key of nextIdx) {
      if (prevIdx.includes(key)) continue;
      ops.push(prev ? { op: 'zaddref', key, member: next.id, scoreFrom: all } : { op: 'zadd', key, member: next.id, score: '$seq' });
    }
    if (!prev) ops.push({ op: 'zadd', key: all, member: next.id, score: '$seq' });
    if (kind === 'package') {
      const p = next as Package;
      const summary: PackageSummary = {
        id: p.id,
        project: p.project,
        environment: p.environment,
        name: p.name,
        bundle: p.bundle,
        version: p.version,
        status: p.status,
        ...(typeof p.costMonthly === 'number' ? { costMonthly: p.costMonthly } : {}),
      };
      ops.push({ op: 'hset', key: this.summaryKey, field: p.id, value: JSON.stringify(summary) });
      if (typeof p.costMonthly === 'number') ops.push({ op: 'zadd', key: this.costKey, member: p.id, score: p.costMonthly });
      else if (prev) ops.push({ op: 'zrem', key: this.costKey, member: p.id });
    }
    return ops;
  }

  private auditRequestOf(kind: RecordKind, record: RecordMetaLike, ctx: AuditContext): string | undefined {
    if (kind === 'request') return record.id;
    if (ctx.request) return ctx.request;
    if (kind === 'deployment' && typeof record.request === 'string') return record.request;
    return undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Generic reads and writes

  /**
   * Stores a new record at revision 1. Throws {@link AlreadyExistsError} when the id is taken.
   * Prefer the typed creators ({@link createProject}...), which validate and derive ids.
   */
  async create<K extends RecordKind>(
    kind: K,
    data: NewRecord<K>,
    ctx: AuditContext,
    options: { at?: Date; outbox?: readonly OutboxEntry[]; fence?: LeaseFence } = {},
  ): Promise<RecordTypes[K]> {
    const prepared = this.prepareCreate(kind, data, ctx, options);
    await this.commit([prepared], options.outbox);
    return prepared.record;
  }

  /** The write {@link create} makes, not yet stored (see {@link commit}). */
  prepareCreate<K extends RecordKind>(kind: K, data: NewRecord<K>, ctx: AuditContext, options: { at?: Date; fence?: LeaseFence } = {}): PreparedWrite<K> {
    assertAuditContext(ctx);
    this.assertId(kind, data.id);
    const now = (options.at ?? this.clock.now()).toISOString();
    const record = { ...deepCopy(data), revision: 1, createdAt: now, updatedAt: now } as RecordTypes[K];
    const event = {
      actor: ctx.actor,
      surface: ctx.surface,
      action: `${kind}.create`,
      at: now,
      subject: { type: kind, id: record.id },
      request: this.auditRequestOf(kind, record as unknown as RecordMetaLike, ctx),
      after: this.redact(kind, auditView(kind, deepCopy(record) as unknown as Record<string, unknown>), record),
    };
    const write = { guard: { key: this.recordsKey(kind), field: record.id, expect: 'absent' as const }, ops: this.recordOps(kind, record), ...fenceOf(options.fence) };
    return { kind, record, ...(options.fence ? { fence: options.fence } : {}), audited: { event, write } };
  }

  /**
   * Atomic compare-and-set: `mutate` gets a copy of the record at `expectedRevision` and
   * changes it in place or returns the new version. Refuses with {@link ConflictError} when the
   * stored revision is another one (read before `mutate` runs, and checked again inside Redis
   * at write time), {@link NotFoundError} for an unknown id. Identity fields cannot change;
   * a request's state may only move along the lifecycle table.
   */
  async update<K extends RecordKind>(
    kind: K,
    id: string,
    expectedRevision: number,
    mutate: (draft: RecordTypes[K]) => RecordTypes[K] | void | Promise<RecordTypes[K] | void>,
    ctx: AuditContext,
    options: UpdateOptions = {},
  ): Promise<RecordTypes[K]> {
    const prepared = await this.prepareUpdate(kind, id, expectedRevision, mutate, ctx, options);
    await this.commit([prepared], options.outbox);
    return prepared.record;
  }

  /** The write {@link update} makes, not yet stored (see {@link commit}); the revision is checked again when it is. */
  async prepareUpdate<K extends RecordKind>(
    kind: K,
    id: string,
    expectedRevision: number,
    mutate: (draft: RecordTypes[K]) => RecordTypes[K] | void | Promise<RecordTypes[K] | void>,
    ctx: AuditContext,
    options: UpdateOptions = {},
  ): Promise<PreparedWrite<K>> {
    assertAuditContext(ctx);
    const held = this.heldAt(kind, id, options.current);
    const current = held?.revision === expectedRevision ? held : await this.get(kind, id);
    return this.prepareUpdateOf(kind, current, expectedRevision, mutate, ctx, options);
  }

  /** The record `handed` stood for when this inventory handed it out, as stored then; undefined when it did not hand it out. */
  private heldAt<K extends RecordKind>(kind: K, id: string, handed: object | undefined): RecordTypes[K] | undefined {
    const raw = handed ? this.handedOut.get(handed) : undefined;
    if (!raw) return undefined;
    const record = this.parse<RecordTypes[K]>(raw);
    return record.id === id ? record : undefined;
  }

  /** Notes that `record` was handed out as the stored form `raw` (see {@link UpdateOptions.current}). */
  private handOut<T extends object>(record: T, raw: string): T {
    this.handedOut.set(record, raw);
    return record;
  }

  /**
   * {@link prepareUpdate} of a record already read (`current`, as stored: the caller must not
   * have changed it), without reading it again. The revision is still checked inside the write.
   */
  private async prepareUpdateOf<K extends RecordKind>(
    kind: K,
    current: RecordTypes[K],
    expectedRevision: number,
    mutate: (draft: RecordTypes[K]) => RecordTypes[K] | void | Promise<RecordTypes[K] | void>,
    ctx: AuditContext,
    options: UpdateOptions,
  ): Promise<PreparedWrite<K>> {
    const id = current.id;
    if (current.revision !== expectedRevision) throw new ConflictError(kind, id, expectedRevision, current.revision);
    const draft = deepCopy(current);
    const mutated = (await mutate(draft)) ?? draft;
    const next = {
      ...deepCopy(mutated),
      id,
      revision: current.revision + 1,
      createdAt: current.createdAt,
      updatedAt: (options.at ?? this.clock.now()).toISOString(),
    } as RecordTypes[K];
    this.assertUpdateAllowed(kind, current, next);
    const changes = diff(auditView(kind, current as unknown as Record<string, unknown>), auditView(kind, next as unknown as Record<string, unknown>));
    const event = {
      actor: ctx.actor,
      surface: ctx.surface,
      action: options.action ?? `${kind}.update`,
      at: next.updatedAt,
      subject: { type: kind, id },
      request: this.auditRequestOf(kind, next as unknown as RecordMetaLike, ctx),
      ...(options.reason !== undefined ? { reason: options.reason } : {}),
      before: this.redact(kind, changes.before, current),
      after: this.redact(kind, changes.after, next),
    };
    const guard = { key: this.recordsKey(kind), field: id, expect: 'revision' as const, revision: expectedRevision };
    const write = { guard, ops: this.recordOps(kind, next, current), ...fenceOf(options.fence) };
    return { kind, record: next, expectedRevision, ...(options.fence ? { fence: options.fence } : {}), audited: { event, write } };
  }

  /**
   * Stores prepared writes and the work they owe (`outbox`) in ONE atomic step: every guard
   * holds and everything is written with its audit events, or nothing is. Throws the typed
   * error of the first write whose guard refused ({@link AlreadyExistsError},
   * {@link ConflictError}, {@link NotFoundError}).
   */
  async commit(writes: readonly PreparedWrite[], outbox: readonly OutboxEntry[] = []): Promise<void> {
    const audited = writes.map((w) => w.audited);
    if (outbox.length) {
      const last = audited.length - 1;
      audited[last] = { ...audited[last]!, write: { ...audited[last]!.write, ops: [...audited[last]!.write.ops, ...this.outbox.ops(outbox)] } };
    }
    const result = await this.audit.commitAll(audited);
    this.rememberWritten(writes, result.ok);
    if (!result.ok) {
      const w = writes[result.index]!;
      if (result.reason === 'exists') throw new AlreadyExistsError(w.kind, w.record.id);
      if (result.reason === 'conflict') throw new ConflictError(w.kind, w.record.id, w.expectedRevision ?? 0, result.actualRevision);
      if (result.reason === 'missing') throw new NotFoundError(w.kind, w.record.id);
      if (result.reason === 'fenced' && w.fence) throw new LockLostError(w.fence.packageId, w.fence.token);
      throw new SystemError(`write ${w.kind} ${w.record.id}: unexpected guard result`);
    }
    if (outbox.length) this.outbox.written(outbox);
  }

  /**
   * A stored write's record is handed out as stored; a read scope keeps what a write stored, and
   * forgets what it read of records whose write was refused.
   */
  private rememberWritten(writes: readonly PreparedWrite[], stored: boolean): void {
    this.scope.getStore()?.ranges.clear();
    for (const w of writes) {
      const op = w.audited.write.ops.find((o) => o.op === 'hset' && o.key === this.recordsKey(w.kind) && o.field === w.record.id);
      const raw = stored && op && 'value' in op && typeof op.value === 'string' ? op.value : undefined;
      if (raw) this.handOut(w.record, raw);
      const seen = this.readsSeen(w.kind);
      if (raw) seen?.set(`${w.kind}:${w.record.id}`, raw);
      else seen?.delete(`${w.kind}:${w.record.id}`);
    }
  }

  /**
   * {@link update} on whatever revision is current, retried on {@link ConflictError}. Only for
   * changes that are right whatever the record looks like (the engine setting a cost, a
   * status); a person's edit must go through {@link update} with the revision they saw.
   * With `current` ({@link UpdateOptions.current}) the first attempt starts from it without a
   * read; when it is stale the write is refused inside Redis like any other conflict, and the
   * next attempt reads the record.
   */
  async modify<K extends RecordKind>(
    kind: K,
    id: string,
    mutate: (draft: RecordTypes[K]) => RecordTypes[K] | void | Promise<RecordTypes[K] | void>,
    ctx: AuditContext,
    options: UpdateOptions & { attempts?: number } = {},
  ): Promise<RecordTypes[K]> {
    const attempts = options.attempts ?? 10;
    assertAuditContext(ctx);
    for (let i = 1; ; i++) {
      // One read per attempt (none for a first attempt from `current`): the write is prepared from it and its revision checked inside the write.
      const current = (i === 1 ? this.heldAt(kind, id, options.current) : undefined) ?? (await this.get(kind, id));
      try {
        const prepared = await this.prepareUpdateOf(kind, current, current.revision, mutate, ctx, options);
        await this.commit([prepared], options.outbox);
        return prepared.record;
      } catch (err) {
        if (!(err instanceof ConflictError) || i >= attempts) throw err;
      }
    }
  }

  /** The record, or {@link NotFoundError}. */
  async get<K extends RecordKind>(kind: K, id: string): Promise<RecordTypes[K]> {
    const found = await this.find(kind, id);
    if (!found) throw new NotFoundError(kind, id);
    return found;
  }

  /** The record, or undefined. */
  async find<K extends RecordKind>(kind: K, id: string): Promise<RecordTypes[K] | undefined> {
    if (typeof id !== 'string' || id.length === 0) return undefined;
    const seen = this.readsSeen(kind)?.get(`${kind}:${id}`);
    const raw = seen !== undefined ? seen : await this.redis.hget(this.recordsKey(kind), id);
    this.remember(kind, id, raw);
    return raw ? this.handOut(this.parse<RecordTypes[K]>(raw), raw) : undefined;
  }

  /**
   * Several records of any kinds, each or undefined, in the order asked, in ONE round trip
   * (a pipeline of HGETs; records already read in the {@link readScope} are not asked again).
   */
  async findEach(refs: readonly { kind: RecordKind; id: string | undefined }[]): Promise<(RecordTypes[RecordKind] | undefined)[]> {
    const raws: (string | null | undefined)[] = refs.map((r) => (r.id ? this.readsSeen(r.kind)?.get(`${r.kind}:${r.id}`) : null));
    const missing = refs.flatMap((r, i) => (raws[i] === undefined ? [i] : []));
    if (missing.length) {
      const pipe = this.redis.pipeline();
      for (const i of missing) pipe.hget(this.recordsKey(refs[i]!.kind), refs[i]!.id!);
      const replies = (await pipe.exec()) ?? [];
      missing.forEach((i, n) => {
        const [err, raw] = replies[n] ?? [new SystemError('no reply from Redis'), null];
        if (err) throw err;
        raws[i] = (raw as string | null) ?? null;
        this.remember(refs[i]!.kind, refs[i]!.id!, raws[i]!);
      });
    }
    return raws.map((raw) => (raw ? this.handOut(this.parse<RecordTypes[RecordKind]>(raw), raw) : undefined));
  }

  /**
   * A request with the package, environment and deployment it names, in ONE round trip (a
   * read-only script). Inside a {@link readScope} all four are kept, so a step that shows the
   * request (a notice) asks Redis for none of them again. Undefined members do not exist.
   */
  async findRequestWithLinks(id: string): Promise<{ request?: Request; package?: Package; environment?: Environment; deployment?: Deployment }> {
    if (typeof id !== 'string' || id.length === 0) return {};
    const kinds = ['request', 'package', 'environment', 'deployment'] as const;
    const reply = (await requestWithLinksScript.run(this.redis, kinds.map((k) => this.recordsKey(k)), [id])) as (string | null)[];
    const [first, ...links] = Array.isArray(reply) ? reply : [];
    const raw = typeof first === 'string' ? first : null;
    this.remember('request', id, raw);
    if (!raw) return {};
    const request = this.handOut(this.parse<Request>(raw), raw);
    const out: { request: Request; package?: Package; environment?: Environment; deployment?: Deployment } = { request };
    const linked = { package: request.package, environment: request.environment, deployment: request.deployment };
    (['package', 'environment', 'deployment'] as const).forEach((kind, i) => {
      const linkId = linked[kind];
      const linkRaw = typeof links[i] === 'string' ? links[i] : null;
      if (!linkId) return;
      this.remember(kind, linkId, linkRaw);
      if (linkRaw) (out as Record<string, unknown>)[kind] = this.handOut(this.parse<object>(linkRaw), linkRaw);
    });
    return out;
  }

  /** The records that exist among `ids`, in the order asked. */
  async getMany<K extends RecordKind>(kind: K, ids: readonly string[]): Promise<RecordTypes[K][]> {
    if (ids.length === 0) return [];
    const seen = this.readsSeen(kind);
    const cached = ids.map((id) => seen?.get(`${kind}:${id}`));
    const missing = ids.filter((_, i) => cached[i] === undefined);
    const fetched = missing.length ? await this.redis.hmget(this.recordsKey(kind), ...missing) : [];
    missing.forEach((id, i) => this.remember(kind, id, fetched[i] ?? null));
    let next = 0;
    const raws = cached.map((raw) => (raw !== undefined ? raw : (fetched[next++] ?? null)));
    return raws.filter((r): r is string => r !== null).map((r) => this.handOut(this.parse<RecordTypes[K]>(r), r));
  }

  /**
   * Runs `fn` with a read scope: a record read inside it (or written by this inventory inside
   * it) is read from Redis once, later reads of it in the scope are answered from that read.
   * For a step that only shows what it reads (writing a notice back to a ticket), where the
   * same request, package and environment are otherwise read again and again within
   * milliseconds. Writes are unchanged: every write still checks its revision inside Redis, and
   * a refused write forgets what the scope read of its record. A list by one index (a ticket's
   * requests) is kept too, until the scope's next write (which may change what an index holds).
   * With `kinds`, only records of
   * those kinds are kept (a workflow step keeps its environment, never its request). Nested
   * scopes share the outer one.
   */
  async readScope<T>(fn: () => Promise<T>, kinds?: readonly RecordKind[]): Promise<T> {
    if (this.scope.getStore()) return fn();
    return this.scope.run({ kinds: kinds ? new Set(kinds) : undefined, seen: new Map(), ranges: new Map() }, fn);
  }

  /** Runs `fn` outside any read scope: every read in it goes to Redis. */
  outsideReadScope<T>(fn: () => Promise<T>): Promise<T> {
    return this.scope.exit(fn);
  }

  /** Stored forms of `kind` read (or written) in the current read scope, by `<kind>:<id>` (null: no such record). */
  private readsSeen(kind: RecordKind): Map<string, string | null> | undefined {
    const scope = this.scope.getStore();
    return scope && (!scope.kinds || scope.kinds.has(kind)) ? scope.seen : undefined;
  }

  private remember(kind: RecordKind, id: string, raw: string | null): void {
    this.readsSeen(kind)?.set(`${kind}:${id}`, raw);
  }

  /** Records of one kind matching every filter, in creation order. */
  async list<K extends RecordKind>(kind: K, filter: ListFilters[K] = {} as ListFilters[K], options: ListOptions = {}): Promise<RecordTypes[K][]> {
    const order = options.order ?? 'asc';
    const offset = Math.max(0, options.offset ?? 0);
    const limit = options.limit;
    if (limit !== undefined && limit <= 0) return [];
    const keys = this.filterKeys(kind, filter);
    let ids: string[];
    if (keys.length <= 1) {
      const stop = limit === undefined ? -1 : offset + limit - 1;
      return this.rangeOf(kind, keys[0] ?? this.allKey(kind), order, offset, stop);
    } else {
      // ZINTER with AGGREGATE MIN keeps the creation-order score, so the order survives.
      const reply = await this.redis.call('ZINTER', String(keys.length), ...keys, 'AGGREGATE', 'MIN', 'WITHSCORES');
      const scored = scoredPairs(reply).map(([id, score]) => ({ id, score }));
      scored.sort((a, b) => (order === 'asc' ? a.score - b.score || a.id.localeCompare(b.id) : b.score - a.score || b.id.localeCompare(a.id)));
      ids = scored.slice(offset, limit === undefined ? undefined : offset + limit).map((s) => s.id);
    }
    return this.getMany(kind, ids);
  }

  /** The records of one index (a sorted set of ids), ranks `start`..`stop` in `order`, in ONE round trip (a read-only script). */
  private async rangeOf<K extends RecordKind>(kind: K, index: string, order: 'asc' | 'desc', start: number, stop: number): Promise<RecordTypes[K][]> {
    const seen = this.readsSeen(kind);
    const ranges = seen ? this.scope.getStore()?.ranges : undefined;
    const range = `${index}:${order}:${start}:${stop}`;
    const kept = ranges?.get(range)?.map((id) => seen!.get(`${kind}:${id}`));
    // Kept by the scope, unless a refused write has forgotten one of its records since.
    if (kept && kept.every((raw) => raw !== undefined)) {
      return kept.filter((raw): raw is string => raw !== null).map((raw) => this.handOut(this.parse<RecordTypes[K]>(raw), raw));
    }
    const reply = (await indexRangeScript.run(this.redis, [index, this.recordsKey(kind)], [order, start, stop])) as [string[], (string | null)[]] | [];
    const [ids = [], raws = []] = reply;
    const out: RecordTypes[K][] = [];
    ids.forEach((id, i) => {
      // A missing record comes back as nil (RESP2) or false (RESP3).
      const raw = typeof raws[i] === 'string' ? raws[i] : null;
      this.remember(kind, id, raw);
      if (raw) out.push(this.handOut(this.parse<RecordTypes[K]>(raw), raw));
    });
    ranges?.set(range, ids);
    return out;
  }

  /** How many records of a kind exist. */
  async count(kind: RecordKind): Promise<number> {
    return this.redis.hlen(this.recordsKey(kind));
  }

  /** Every package's summary in one read (HVALS of one small hash): the input of cost and inventory queries. */
  async packageSummaries(): Promise<PackageSummary[]> {
    const raws = await this.redis.hvals(this.summaryKey);
    return raws.map((r) => JSON.parse(r) as PackageSummary);
  }

  /** Package ids with their monthly cost, most expensive first (packages without a cost left out). */
  async packagesByCost(limit = 10): Promise<{ id: string; costMonthly: number }[]> {
    if (limit <= 0) return [];
    const reply = await this.redis.zrevrange(this.costKey, 0, limit - 1, 'WITHSCORES');
    return scoredPairs(reply).map(([id, costMonthly]) => ({ id, costMonthly }));
  }

  /** Audit events about one record, oldest first. */
  async history(kind: RecordKind, id: string, limit = 100): Promise<AuditEvent[]> {
    return this.audit.list({ subject: { type: kind, id }, limit });
  }

  // -------------------------------------------------------------------------------------------
  // Typed creators

  /** Creates a project; its id is `id` or, when omitted, `name` (either must be a slug). */
  async createProject(input: { name: string; id?: string; description?: string }, ctx: AuditContext): Promise<Project> {
    const id = input.id ?? input.name;
    assertSlug(input.id !== undefined ? 'id' : 'name', id);
    if (typeof input.name !== 'string' || input.name.trim() === '') throw new ValidationError('project name is required', [{ pointer: '/name', field: 'name', message: 'is required' }]);
    return this.create('project', { id, name: input.name, ...(input.description !== undefined ? { description: input.description } : {}) }, ctx);
  }

  /** Creates an environment of an existing project; id `<project>-<name>`. */
  async createEnvironment(input: { project: string; name: string; labels?: Labels }, ctx: AuditContext): Promise<Environment> {
    const issues = [slugIssue('project', input.project), slugIssue('name', input.name), ...labelIssues(input.labels)].filter(
      (i): i is FieldIssue => i !== undefined,
    );
    if (issues.length) throw new ValidationError('environment is invalid', issues);
    await this.get('project', input.project);
    return this.create(
      'environment',
      { id: environmentId(input.project, input.name), project: input.project, name: input.name, labels: { ...(input.labels ?? {}) } },
      ctx,
    );
  }

  /** Creates a package in an existing environment; id `<environment id>-<name>`, project taken from the environment. */
  async createPackage(
    input: {
      environment: string;
      name: string;
      bundle: string;
      version: string;
      desiredParams?: Record<string, unknown>;
      connections?: Record<string, ConnectionBinding>;
      status?: PackageStatus;
      costMonthly?: number;
    },
    ctx: AuditContext,
  ): Promise<Package> {
    const issues: FieldIssue[] = [slugIssue('environment', input.environment), slugIssue('name', input.name)].filter(
      (i): i is FieldIssue => i !== undefined,
    );
    if (typeof input.bundle !== 'string' || input.bundle === '') issues.push({ pointer: '/bundle', field: 'bundle', message: 'is required' });
    if (typeof input.version !== 'string' || input.version === '') issues.push({ pointer: '/version', field: 'version', message: 'is required' });
    if (input.status !== undefined && !PACKAGE_STATUSES.includes(input.status)) {
      issues.push({ pointer: '/status', field: 'status', message: `must be one of ${PACKAGE_STATUSES.join(', ')}` });
    }
    if (input.costMonthly !== undefined && !(typeof input.costMonthly === 'number' && Number.isFinite(input.costMonthly) && input.costMonthly >= 0)) {
      issues.push({ pointer: '/costMonthly', field: 'costMonthly', message: 'must be a number >= 0' });
    }
    if (issues.length) throw new ValidationError('package is invalid', issues);
    const env = await this.get('environment', input.environment);
    return this.create(
      'package',
      {
        id: packageId(env.id, input.name),
        project: env.project,
        environment: env.id,
        name: input.name,
        bundle: input.bundle,
        version: input.version,
        desiredParams: { ...(input.desiredParams ?? {}) },
        connections: { ...(input.connections ?? {}) },
        artifacts: {},
        status: input.status ?? 'new',
        ...(input.costMonthly !== undefined ? { costMonthly: input.costMonthly } : {}),
      },
      ctx,
    );
  }

  /** Creates a deployment (`dep_` + random id) of an existing package, status `queued` unless given. */
  async createDeployment(
    input: { package: string; action: DeploymentAction; request?: string; status?: DeploymentStatus; planHash?: string },
    ctx: AuditContext,
    fence?: LeaseFence,
  ): Promise<Deployment> {
    const issues: FieldIssue[] = [];
    if (!DEPLOYMENT_ACTIONS.includes(input.action)) issues.push({ pointer: '/action', field: 'action', message: `must be one of ${DEPLOYMENT_ACTIONS.join(', ')}` });
    if (input.status !== undefined && !DEPLOYMENT_STATUSES.includes(input.status)) {
      issues.push({ pointer: '/status', field: 'status', message: `must be one of ${DEPLOYMENT_STATUSES.join(', ')}` });
    }
    if (issues.length) throw new ValidationError('deployment is invalid', issues);
    await this.get('package', input.package);
    return this.create(
      'deployment',
      {
        id: randomId('dep'),
        package: input.package,
        action: input.action,
        status: input.status ?? 'queued',
        steps: [],
        ...(input.request !== undefined ? { request: input.request } : {}),
        ...(input.planHash !== undefined ? { planHash: input.planHash } : {}),
      },
      ctx,
      fence ? { fence } : {},
    );
  }

  // -------------------------------------------------------------------------------------------
  // Checks

  private assertId(kind: RecordKind, id: unknown): void {
    if (kind === 'request' || kind === 'deployment') {
      const prefix = kind === 'request' ? 'req_' : 'dep_';
      if (typeof id !== 'string' || !id.startsWith(prefix) || !/^[a-z]+_[a-z0-9]{6,64}$/.test(id)) {
        throw new ValidationError(`${kind} id must look like ${prefix}<random>`, [{ pointer: '/id', field: 'id', message: `must look like ${prefix}<random>` }]);
      }
      return;
    }
    assertSlug('id', id);
  }

  private assertUpdateAllowed<K extends RecordKind>(kind: K, before: RecordTypes[K], after: RecordTypes[K]): void {
    const b = before as unknown as Record<string, unknown>;
    const a = after as unknown as Record<string, unknown>;
    const issues: FieldIssue[] = [];
    for (const field of IMMUTABLE[kind]) {
      if (canonicalJson(b[field]) !== canonicalJson(a[field])) issues.push({ pointer: `/${field}`, field, message: 'cannot change after creation' });
    }
    if (issues.length) throw new ValidationError(`${kind} ${before.id}: ${issues.map((i) => i.field).join(', ')} cannot change`, issues);
    if (kind === 'request') {
      const rb = before as Request;
      const ra = after as Request;
      if (rb.state !== ra.state) assertTransition(rb.state, ra.state, rb.kind, rb.id);
    }
  }
}

/**
 * Reads request ARGV[1] from KEYS[1] and the package, environment and deployment it names from
 * KEYS[2..4]: `{request, package, environment, deployment}` stored forms (nil when absent).
 * Reads only; the ids are plain members of the stored JSON (secrets sealed there are left as they are).
 */
const requestWithLinksScript = new LuaScript(`
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {} end
local ok, r = pcall(cjson.decode, raw)
if not ok or type(r) ~= 'table' then return { raw } end
local function link(key, id)
  if type(id) == 'string' and id ~= '' then return redis.call('HGET', key, id) end
  return false
end
return { raw, link(KEYS[2], r.package), link(KEYS[3], r.environment), link(KEYS[4], r.deployment) }
`);

/**
 * Ids of the sorted set KEYS[1], ranks ARGV[2]..ARGV[3] (ARGV[1] `asc` or `desc`), and their
 * stored forms from the hash KEYS[2]: `{ids, raws}` (a raw is nil when the record is gone).
 * Reads only; HMGET in chunks, so a long index stays within Lua's argument limits.
 */
const indexRangeScript = new LuaScript(`
local ids
if ARGV[1] == 'desc' then ids = redis.call('ZREVRANGE', KEYS[1], ARGV[2], ARGV[3]) else ids = redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[3]) end
if #ids == 0 then return {} end
local raws = {}
for i = 1, #ids, 1000 do
  local chunk = redis.call('HMGET', KEYS[2], unpack(ids, i, math.min(i + 999, #ids)))
  for j = 1, #chunk do raws[i + j - 1] = chunk[j] end
end
return { ids, raws }
`);

/** Just the members the audit needs to find a record's request. */
interface RecordMetaLike {
  id: string;
  request?: unknown;
}

function labelIssues(labels: unknown): (FieldIssue | undefined)[] {
  if (labels === undefined) return [];
  if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) return [{ pointer: '/labels', field: 'labels', message: 'must be an object' }];
  return Object.entries(labels as Record<string, unknown>).map(([k, v]) =>
    ['string', 'number', 'boolean'].includes(typeof v) ? undefined : { pointer: `/labels/${k}`, field: k, message: 'must be a string, number or boolean' },
  );
}

/**
 * Member/score pairs of a WITHSCORES reply, whatever the client's protocol: RESP2 (and
 * ioredis' default "legacy" mapping) gives a flat [member, score, ...] list, RESP3 mapping
 * gives [[member, score], ...].
 */
function scoredPairs(reply: unknown): [string, number][] {
  const list = Array.isArray(reply) ? (reply as unknown[]) : [];
  const out: [string, number][] = [];
  if (list.length > 0 && Array.isArray(list[0])) {
    for (const pair of list as unknown[][]) out.push([String(pair[0]), Number(pair[1])]);
  } else {
    for (let i = 0; i + 1 < list.length; i += 2) out.push([String(list[i]), Number(list[i + 1])]);
  }
  return out;
}
