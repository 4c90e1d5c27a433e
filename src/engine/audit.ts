/**
 * The audit log: an append-only, hash-chained record of every change, stored in Redis.
 *
 * Each event's `hash` is `sha256(prevHash + canonical JSON of the event without hash)`; the
 * first event's `prevHash` is 64 zeros. Editing, deleting, inserting or reordering any event
 * breaks the chain from that event on, and {@link AuditLog.verify} names the first bad one.
 * Publishing {@link AuditLog.head} somewhere else (a ticket, a log shipper) also protects
 * against someone truncating the tail and rewriting the head.
 *
 * Canonical JSON of an event: members in the fixed order `seq, at, actor, surface, action,
 * subject, request, reason, before, after, prevHash` (absent optional members left out),
 * nested objects with keys sorted, no whitespace, as `JSON.stringify` writes values.
 *
 * Appends run in one Lua script ({@link auditedWriteScript}) that reads the last seq and hash,
 * so they are atomic and totally ordered however many processes write. The same script lets
 * the inventory and the attestations apply their record change and its audit event together:
 * a change is never stored without its event, nor an event without its change. One step may
 * carry several events ({@link AuditLog.commitAll}): a request superseded and its next revision
 * created land together, with the work they owe (the outbox), or not at all.
 *
 * Sensitive values must never be written. Callers redact what they know is sensitive
 * (see {@link redactSensitive}); the log additionally blanks values under secret-looking names
 * ({@link redactSecretsByName}) in every before/after it stores.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { SystemError, ValidationError } from './errors.ts';
import { systemClock, type AuditEvent, type Clock, type SurfaceName } from './model.ts';
import { auditedWriteScript } from './audit-lua.ts';
import { redactSecretsByName } from './redact.ts';

export { maskAtPointers as redactSensitive, redactSecretsByName, REDACTED, isSensitiveKey as isSecretName } from './redact.ts';

/** `prevHash` of the first event. */
export const GENESIS_HASH = '0'.repeat(64);

/** Who is changing something, through which surface, on behalf of which request. Passed to every audited write. */
export interface AuditContext {
  /** Actor id: the surface's account id, or `engine` / a worker name for the service itself. */
  actor: string;
  surface: SurfaceName;
  /** The request this change serves, when there is one. */
  request?: string;
}

/** What a caller supplies for one event; the log adds `seq`, `at`, `prevHash` and `hash`. */
export interface AuditEventInput {
  actor: string;
  surface: SurfaceName;
  /** Verb, for example `package.create`, `request.transition`, `bundle.attest`. */
  action: string;
  subject: { type: string; id: string };
  request?: string;
  reason?: string;
  /** State before the change, already redacted by the caller. */
  before?: unknown;
  /** State after the change, already redacted by the caller. */
  after?: unknown;
  /** Instant of the change (default: the log's clock); the inventory passes the record's `updatedAt` so both agree. */
  at?: string;
}

/** Filter for {@link AuditLog.list}. Several filters combine with AND. */
export interface AuditListOptions {
  subject?: { type: string; id: string };
  request?: string;
  actor?: string;
  /** Only events with `seq` greater than this (a cursor: pass the last seq you saw). */
  after?: number;
  /** Only events with `seq` smaller than this. */
  before?: number;
  /** At most this many events (default 100). */
  limit?: number;
  /** `asc` (oldest first, default) or `desc` (newest first). */
  order?: 'asc' | 'desc';
}

/** Result of {@link AuditLog.verify}. */
export type AuditVerification = { ok: true; count: number } | { ok: false; seq: number; reason: string };

/** A guard checked atomically before an audited write: on a hash field of one key. */
export type WriteGuard =
  | { key: string; field: string; expect: 'absent' }
  | { key: string; field: string; expect: 'present' }
  | { key: string; field: string; expect: 'revision'; revision: number };

/** One Redis operation applied in the same atomic step as the audit append. */
export type WriteOp =
  | { op: 'hset'; key: string; field: string; value: string }
  | { op: 'hdel'; key: string; field: string }
  /** `rpush` appends `member` to a list (the outbox's queue of owed work). */
  | { op: 'sadd' | 'srem' | 'zrem' | 'rpush'; key: string; member: string }
  /** `score: '$seq'` uses the seq of this write's audit event (unique, increasing: a creation order without ties). */
  | { op: 'zadd'; key: string; member: string; score: number | '$seq' }
  /** Adds `member` with the score it has in the sorted set `scoreFrom` (or this write's seq when absent there). */
  | { op: 'zaddref'; key: string; member: string; scoreFrom: string };

/**
 * A lock the write is made under: the string at `key` must still be `value` (its holder and
 * fencing token) when the write lands, checked inside the same atomic step. A holder whose lock
 * expired or was taken over is refused with reason `fenced`, however long it was paused.
 */
export interface WriteFence {
  key: string;
  value: string;
}

/** A record change to apply together with its audit event. */
export interface AtomicWrite {
  guard?: WriteGuard;
  /** Refuse the write unless this lock is still held with this value. */
  fence?: WriteFence;
  ops: WriteOp[];
}

/** Outcome of {@link AuditLog.commit}: the appended event, or why the guard refused the write. */
export type CommitResult =
  | { ok: true; event: AuditEvent }
  | { ok: false; reason: 'exists' | 'missing' | 'fenced' }
  | { ok: false; reason: 'conflict'; actualRevision: number };

/** One audit event together with the record change it describes, for {@link AuditLog.commitAll}. */
export interface AuditedWrite {
  event: AuditEventInput;
  write: AtomicWrite;
}

/**
 * Outcome of {@link AuditLog.commitAll}: the appended events (in order), or which write's guard
 * refused (`index` into the writes) and why; then nothing at all was written.
 */
export type CommitAllResult =
  | { ok: true; events: AuditEvent[] }
  | { ok: false; index: number; reason: 'exists' | 'missing' | 'fenced' }
  | { ok: false; index: number; reason: 'conflict'; actualRevision: number };

/** Options of {@link AuditLog}. */
export interface AuditLogOptions {
  redis: Redis;
  /** Key prefix shared with the inventory (default `ts:`). */
  prefix?: string;
  clock?: Clock;
}

/** JSON with object keys sorted at every level; `undefined` members dropped as JSON does. */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null';
  return JSON.stringify(sortKeys(JSON.parse(JSON.stringify(value)) as unknown));
}

function sortKeys(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(sortKeys);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(node as object).sort()) out[key] = sortKeys((node as Record<string, unknown>)[key]);
  return out;
}

/** The members between `seq` and `prevHash` of an event's canonical JSON (no braces). */
export function eventBody(e: Omit<AuditEvent, 'seq' | 'prevHash' | 'hash'>): string {
  const parts = [
    `"at":${JSON.stringify(e.at)}`,
    `"actor":${JSON.stringify(e.actor)}`,
    `"surface":${JSON.stringify(e.surface)}`,
    `"action":${JSON.stringify(e.action)}`,
    `"subject":${canonicalJson({ type: e.subject.type, id: e.subject.id })}`,
  ];
  if (e.request !== undefined) parts.push(`"request":${JSON.stringify(e.request)}`);
  if (e.reason !== undefined) parts.push(`"reason":${JSON.stringify(e.reason)}`);
  if (e.before !== undefined) parts.push(`"before":${canonicalJson(e.before)}`);
  if (e.after !== undefined) parts.push(`"after":${canonicalJson(e.after)}`);
  return parts.join(',');
}

/** Canonical JSON of an event without its `hash` (see the module comment for the exact form). */
export function canonicalEventJson(e: Omit<AuditEvent, 'hash'>): string {
  return `{"seq":${e.seq},${eventBody(e)},"prevHash":${JSON.stringify(e.prevHash)}}`;
}

/** The hash an event must carry: `sha256(prevHash + canonical JSON without hash)`. */
export function computeEventHash(e: Omit<AuditEvent, 'hash'>): string {
  return createHash('sha256').update(e.prevHash + canonicalEventJson(e), 'utf8').digest('hex');
}

const DEFAULT_LIST_LIMIT = 100;
const VERIFY_CHUNK = 1000;

function requireText(field: string, value: unknown): void {
  if (typeof value !== 'string' || value.length === 0) {
    throw new ValidationError(`audit event: ${field} is required`, [{ pointer: `/${field.replace(/\./g, '/')}`, message: 'required' }]);
  }
}

/** An event before the audit script gives it its seq and hashes. */
type EventDraft = Omit<AuditEvent, 'seq' | 'prevHash' | 'hash'>;

/** KEYS of the audit script: the log's two own keys first, then each other key once, named by its 1-based index. */
class ScriptKeys {
  readonly keys: string[];
  private readonly index = new Map<string, number>();

  constructor(eventsKey: string, headKey: string) {
    this.keys = [eventsKey, headKey];
  }

  /** The 1-based index of `key` in KEYS (added on first use). */
  of(key: string): number {
    let i = this.index.get(key);
    if (i === undefined) {
      this.keys.push(key);
      i = this.keys.length; // Lua KEYS are 1-based
      this.index.set(key, i);
    }
    return i;
  }
}

/** Appends the record ops to the script's ARGV, four values each (op, key index, member or field, value or score). */
function appendOps(keys: ScriptKeys, args: (string | number)[], ops: readonly WriteOp[]): void {
  for (const op of ops) {
    switch (op.op) {
      case 'hset':
        args.push(op.op, keys.of(op.key), op.field, op.value);
        break;
      case 'hdel':
        args.push(op.op, keys.of(op.key), op.field, '');
        break;
      case 'zadd':
        args.push(op.op, keys.of(op.key), op.member, op.score);
        break;
      case 'zaddref': {
        const keyIdx = keys.of(op.key);
        args.push(op.op, keyIdx, op.member, keys.of(op.scoreFrom));
        break;
      }
      default:
        args.push(op.op, keys.of(op.key), op.member, '');
    }
  }
}

/** The guards the script checks for one write, in order: its record guard, then its fence. */
function guardsOf(write: AtomicWrite): { mode: string; key: string; field: string; revision: number }[] {
  const out: { mode: string; key: string; field: string; revision: number }[] = [];
  const g = write.guard;
  if (g) out.push({ mode: g.expect, key: g.key, field: g.field, revision: g.expect === 'revision' ? g.revision : 0 });
  if (write.fence) out.push({ mode: 'holds', key: write.fence.key, field: write.fence.value, revision: 0 });
  return out;
}

/** The audit script's reply: the stored events, or which guard refused the step and why. */
function commitAllResult(reply: [string, ...unknown[]], drafts: EventDraft[], guardOwners: number[]): CommitAllResult {
  switch (reply[0]) {
    case 'ok': {
      const events = drafts.map((draft, i): AuditEvent => {
        const [seq, hash, prevHash] = reply.slice(1 + i * 3, 4 + i * 3) as [number, string, string];
        return { seq, ...draft, prevHash, hash };
      });
      return { ok: true, events };
    }
    case 'exists':
    case 'missing':
    case 'fenced':
      return { ok: false, index: guardOwners[Number(reply[1]) - 1] ?? 0, reason: reply[0] };
    case 'conflict':
      return { ok: false, index: guardOwners[Number(reply[2]) - 1] ?? 0, reason: 'conflict', actualRevision: Number(reply[1]) };
    default:
      throw new SystemError(`audit write: unexpected reply ${String(reply[0])}`);
  }
}

/** The append-only, hash-chained audit log. */
export class AuditLog {
  readonly prefix: string;
  private readonly redis: Redis;
  private readonly clock: Clock;

  constructor(options: AuditLogOptions) {
    this.redis = options.redis;
    this.prefix = options.prefix ?? 'ts:';
    this.clock = options.clock ?? systemClock;
  }

  /** Redis key of the events hash (field = seq, value = event JSON). */
  get eventsKey(): string {
    return `${this.prefix}audit:events`;
  }

  /** Redis key of the head hash (`seq`, `hash` of the last event). */
  get headKey(): string {
    return `${this.prefix}audit:head`;
  }

  private subjectKey(subject: { type: string; id: string }): string {
    return `${this.prefix}audit:idx:subject:${subject.type}:${subject.id}`;
  }
  private actorKey(actor: string): string {
    return `${this.prefix}audit:idx:actor:${actor}`;
  }
  private requestKey(request: string): string {
    return `${this.prefix}audit:idx:request:${request}`;
  }

  /** Appends one event on its own (no record change). */
  async append(input: AuditEventInput): Promise<AuditEvent> {
    const result = await this.commit(input, { ops: [] });
    if (!result.ok) throw new SystemError(`audit append refused: ${result.reason}`);
    return result.event;
  }

  /**
   * Checks `write.guard`, applies `write.ops` and appends the event, atomically. When the guard
   * refuses, nothing is written and the reason is returned (callers turn it into their typed
   * error). Before/after pass through {@link redactSecretsByName}.
   */
  async commit(input: AuditEventInput, write: AtomicWrite): Promise<CommitResult> {
    const result = await this.commitAll([{ event: input, write }]);
    if (result.ok) return { ok: true, event: result.events[0]! };
    const { index: _index, ...refused } = result;
    return refused;
  }

  /**
   * {@link commit} for several events in ONE atomic step: every guard is checked first, and only
   * when all hold are the writes applied and their events appended, in order (consecutive seqs).
   * A refused guard writes nothing and names the write it belongs to.
   */
  async commitAll(writes: readonly AuditedWrite[]): Promise<CommitAllResult> {
    if (writes.length === 0) throw new ValidationError('audit write: nothing to commit', [{ pointer: '', message: 'at least one event is required' }]);
    const drafts = writes.map((w) => this.draft(w.event));
    const { keys, args } = this.scriptArguments(drafts, writes);
    let reply: [string, ...unknown[]];
    try {
      reply = (await auditedWriteScript.run(this.redis, keys, args)) as [string, ...unknown[]];
    } catch (err) {
      throw new SystemError(`audit write failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    // The script numbers only the guards; map each back to the write it came with.
    const guardOwners = writes.flatMap((w, i) => guardsOf(w.write).map(() => i));
    return commitAllResult(reply, drafts, guardOwners);
  }

  /** The event as the caller describes it, checked, with before/after redacted; the script adds seq and hashes. */
  private draft(input: AuditEventInput): EventDraft {
    requireText('actor', input.actor);
    requireText('surface', input.surface);
    requireText('action', input.action);
    requireText('subject.type', input.subject?.type);
    requireText('subject.id', input.subject?.id);
    return {
      at: input.at ?? this.clock.now().toISOString(),
      actor: input.actor,
      surface: input.surface,
      action: input.action,
      subject: { type: input.subject.type, id: input.subject.id },
      ...(input.request !== undefined ? { request: input.request } : {}),
      ...(input.reason !== undefined ? { reason: input.reason } : {}),
      ...(input.before !== undefined ? { before: redactSecretsByName(input.before) } : {}),
      ...(input.after !== undefined ? { after: redactSecretsByName(input.after) } : {}),
    };
  }

  /**
   * KEYS and ARGV of {@link auditedWriteScript}: the guards, then each event body with its
   * index keys and its record ops (see the script's comment for the exact layout).
   */
  private scriptArguments(drafts: EventDraft[], writes: readonly AuditedWrite[]): { keys: string[]; args: (string | number)[] } {
    const keys = new ScriptKeys(this.eventsKey, this.headKey);
    const guards = writes.flatMap((w) => guardsOf(w.write));
    const args: (string | number)[] = [guards.length];
    for (const g of guards) args.push(g.mode, keys.of(g.key), g.field, g.revision);
    args.push(drafts.length);
    drafts.forEach((draft, i) => {
      const request = draft.request !== undefined ? keys.of(this.requestKey(draft.request)) : 0;
      args.push(eventBody(draft), keys.of(this.subjectKey(draft.subject)), keys.of(this.actorKey(draft.actor)), request, writes[i]!.write.ops.length);
      appendOps(keys, args, writes[i]!.write.ops);
    });
    return { keys: keys.keys, args };
  }

  /** The last event's seq and hash (seq 0 and {@link GENESIS_HASH} for an empty log). Publish it to anchor the chain. */
  async head(): Promise<{ seq: number; hash: string }> {
    const [seq, hash] = await this.redis.hmget(this.headKey, 'seq', 'hash');
    return { seq: seq ? Number(seq) : 0, hash: hash ?? GENESIS_HASH };
  }

  /** One event by seq, or undefined. */
  async get(seq: number): Promise<AuditEvent | undefined> {
    const raw = await this.redis.hget(this.eventsKey, String(seq));
    return raw ? (JSON.parse(raw) as AuditEvent) : undefined;
  }

  /** Events matching every given filter, ordered by seq. */
  async list(options: AuditListOptions = {}): Promise<AuditEvent[]> {
    const limit = options.limit ?? DEFAULT_LIST_LIMIT;
    const order = options.order ?? 'asc';
    if (limit <= 0) return [];
    const lowEx = options.after ?? 0;
    const highEx = options.before ?? Number.POSITIVE_INFINITY;
    const indexes: string[] = [];
    if (options.subject) indexes.push(this.subjectKey(options.subject));
    if (options.actor !== undefined) indexes.push(this.actorKey(options.actor));
    if (options.request !== undefined) indexes.push(this.requestKey(options.request));

    let seqs: number[];
    if (indexes.length === 0) {
      const { seq: last } = await this.head();
      const lo = lowEx + 1;
      const hi = Math.min(last, highEx - 1);
      seqs = [];
      if (order === 'asc') for (let s = lo; s <= hi && seqs.length < limit; s++) seqs.push(s);
      else for (let s = hi; s >= lo && seqs.length < limit; s--) seqs.push(s);
    } else if (indexes.length === 1) {
      const min = `(${lowEx}`;
      const max = Number.isFinite(highEx) ? `(${highEx}` : '+inf';
      const members =
        order === 'asc'
          ? await this.redis.zrangebyscore(indexes[0]!, min, max, 'LIMIT', 0, limit)
          : await this.redis.zrevrangebyscore(indexes[0]!, max, min, 'LIMIT', 0, limit);
      seqs = members.map(Number);
    } else {
      const members = await this.redis.zinter(indexes.length, ...indexes);
      seqs = members
        .map(Number)
        .filter((s) => s > lowEx && s < highEx)
        .sort((a, b) => (order === 'asc' ? a - b : b - a))
        .slice(0, limit);
    }
    if (seqs.length === 0) return [];
    const raws = await this.redis.hmget(this.eventsKey, ...seqs.map(String));
    return raws.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as AuditEvent);
  }

  /**
   * Walks the whole chain and names the FIRST event that is missing, moved, edited or
   * unlinked. An event whose content changed is reported at its own seq; an event replaced
   * together with a recomputed hash is reported at the next seq, whose link no longer fits.
   */
  async verify(): Promise<AuditVerification> {
    const { seq: headSeq, hash: headHash } = await this.head();
    const stored = await this.redis.hlen(this.eventsKey);
    let prev = GENESIS_HASH;
    for (let start = 1; start <= headSeq; start += VERIFY_CHUNK) {
      const seqs: string[] = [];
      for (let s = start; s < start + VERIFY_CHUNK && s <= headSeq; s++) seqs.push(String(s));
      const raws = await this.redis.hmget(this.eventsKey, ...seqs);
      for (let i = 0; i < raws.length; i++) {
        const seq = start + i;
        const raw = raws[i];
        if (raw === null || raw === undefined) return { ok: false, seq, reason: `event ${seq} is missing (deleted)` };
        let event: AuditEvent;
        try {
          event = JSON.parse(raw) as AuditEvent;
        } catch {
          return { ok: false, seq, reason: `event ${seq} is not valid JSON (edited)` };
        }
        if (event.seq !== seq) {
          return { ok: false, seq, reason: `position ${seq} holds event ${String(event.seq)} (moved or reordered)` };
        }
        if (event.prevHash !== prev) {
          return { ok: false, seq, reason: `event ${seq} does not link to event ${seq - 1} (an earlier event was replaced, or this one was edited)` };
        }
        let expected: string;
        try {
          const { hash: _ignored, ...rest } = event;
          expected = computeEventHash(rest);
        } catch {
          return { ok: false, seq, reason: `event ${seq} has a malformed shape (edited)` };
        }
        if (event.hash !== expected) return { ok: false, seq, reason: `event ${seq} content does not match its hash (edited)` };
        prev = event.hash;
      }
    }
    if (stored > headSeq) {
      return { ok: false, seq: headSeq + 1, reason: `${stored - headSeq} event(s) stored beyond the recorded head ${headSeq} (inserted)` };
    }
    if (headSeq > 0 && headHash !== prev) {
      return { ok: false, seq: headSeq, reason: `the recorded head hash does not match event ${headSeq}` };
    }
    return { ok: true, count: headSeq };
  }
}
