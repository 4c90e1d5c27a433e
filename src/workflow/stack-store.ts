/**
 * The stored stacks: one per preview environment, holding what the stack desk (stacks.ts) needs
 * to carry on after a restart: its packages in dependency order, where it is (creating, up,
 * destroying, destroyed), the package that failed, and its lease. One hash
 * `<prefix>stacks`, environment id -> stack JSON; every write is one atomic step with its audit
 * event (`stack.*`, `lease.granted`, `lease.extended`, `lease.expired`).
 */
import type { Redis } from 'ioredis';
import type { AuditLog } from '../engine/audit.ts';
import { NotFoundError, SystemError } from '../engine/errors.ts';
import type { Actor, Labels, Origin, SurfaceName } from '../engine/model.ts';
import type { StackConnection } from './stack-template.ts';

/** One package of a stack. */
export interface StackPackage {
  /** Name inside the stack and the environment (`db`). */
  name: string;
  /** Package id (`checkout-pr-42-db`). */
  id: string;
  bundle: string;
  version: string;
  params: Record<string, unknown>;
  connections: StackConnection[];
}

/** A stack's lease: when it expires, and the generation its jobs carry (a job of an older one does nothing). */
export interface Lease {
  generation: number;
  grantedAt: string;
  expiresAt: string;
  /** The latest it may be extended to (granted + the policy's maximum). */
  maxUntil: string;
  /** The policy's maximum, as written in messages (`7d`). */
  maxText: string;
  remindBeforeMs: number[];
  /** The keys of the reminders posted for this generation. */
  reminded?: string[];
}

/** Where a stack is. */
export type StackPhase = 'creating' | 'up' | 'destroying' | 'destroyed';

/** A stack, as stored. */
export interface Stack {
  /** The environment id (`checkout-pr-42`). */
  id: string;
  template: string;
  project: string;
  /** Environment name inside the project (`pr-42`). */
  name: string;
  labels: Labels;
  origin: Origin;
  actor: Actor;
  answers: Record<string, unknown>;
  /** Producers first. */
  packages: StackPackage[];
  phase: StackPhase;
  /** The package whose request failed, and why; the stack waits for `/resume`. */
  failed?: { package: string; message: string };
  lease?: Lease;
  /** Monthly cost of the stack while it was up (USD), and what it cost while it lived. */
  costMonthly?: number;
  costLived?: number;
  upAt?: string;
  destroyedAt?: string;
  /** The ticket of a destroyed stack was closed. */
  closed?: true;
  createdAt: string;
  updatedAt: string;
}

/** Who wrote a stack change. */
export interface StackWriteContext {
  actor: string;
  surface: SurfaceName;
}

/** The stored stacks; see the module comment. */
export class StackStore {
  constructor(private readonly deps: { redis: Redis; prefix: string; audit: AuditLog }) {}

  private get key(): string {
    return `${this.deps.prefix}stacks`;
  }

  /** Every stack, by id. */
  async list(): Promise<Stack[]> {
    const all = await this.deps.redis.hvals(this.key);
    return all.map((raw) => JSON.parse(raw) as Stack).sort((a, b) => a.id.localeCompare(b.id));
  }

  /** The stack of environment `id`, if any. */
  async find(id: string): Promise<Stack | undefined> {
    const raw = await this.deps.redis.hget(this.key, id);
    return raw ? (JSON.parse(raw) as Stack) : undefined;
  }

  /** The stack of environment `id`. @throws NotFoundError */
  async get(id: string): Promise<Stack> {
    const s = await this.find(id);
    if (!s) throw new NotFoundError('stack', id);
    return s;
  }

  /** The stack requested from ticket `origin`, if any. */
  async forOrigin(origin: Pick<Origin, 'surface' | 'ref'>): Promise<Stack | undefined> {
    return (await this.list()).find((s) => s.origin.surface === origin.surface && s.origin.ref === origin.ref);
  }

  /** Stores `next` (its previous version `before`; none: a new stack), audited as `action`: one atomic step. */
  async put(next: Stack, before: Stack | undefined, action: string, ctx: StackWriteContext, reason: string): Promise<Stack> {
    const subject = { type: 'environment', id: next.id };
    const event = { ...ctx, action, subject, reason, ...(before ? { before: summary(before) } : {}), after: summary(next) };
    // A new stack is written only where none is (two requests racing make one stack; the loser's retry finds it).
    const guard = before ? {} : { guard: { key: this.key, field: next.id, expect: 'absent' as const } };
    const result = await this.deps.audit.commit(event, { ...guard, ops: [{ op: 'hset', key: this.key, field: next.id, value: JSON.stringify(next) }] });
    if (!result.ok) throw new SystemError(`stack write refused: ${result.reason}`);
    return next;
  }

  /**
   * Runs `fn` holding stack `id`'s lock (one writer per stack, across processes); waits for a
   * holder to finish (at most `waitMs`). The lock expires by itself when its holder dies.
   */
  async exclusive<T>(id: string, fn: () => Promise<T>, waitMs = 120_000): Promise<T> {
    const key = `${this.deps.prefix}stack:lock:${id}`;
    const token = `${process.pid}:${Math.random().toString(36).slice(2)}`;
    const until = Date.now() + waitMs;
    while ((await this.deps.redis.set(key, token, 'PX', 300_000, 'NX')) !== 'OK') {
      if (Date.now() > until) throw new SystemError(`stack ${id} is busy`);
      await new Promise((r) => setTimeout(r, 50));
    }
    try {
      return await fn();
    } finally {
      if ((await this.deps.redis.get(key)) === token) await this.deps.redis.del(key);
    }
  }
}

/** What an audit event keeps of a stack: no params (they may hold anything the template says). */
function summary(s: Stack): Record<string, unknown> {
  return { template: s.template, phase: s.phase, packages: s.packages.map((p) => `${p.id} (${p.bundle}@${p.version})`), ...(s.failed ? { failed: s.failed } : {}), ...(s.lease ? { lease: s.lease } : {}) };
}
