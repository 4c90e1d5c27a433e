/**
 * Shared setup of the workflow crash and recovery tests: a real runtime (Redis, BullMQ workers,
 * the outbox relay, the redis-cache example bundle applied to the test's own Redis), a clock
 * the test moves, and a fault plan that crashes the workflow at named points.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uniqueName, type useRedis } from '../helpers/redis.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { startRuntime, type Runtime } from '../../src/runtime.ts';
import { queueNames, jobId } from '../../src/queue/queues.ts';
import { noticesOf } from '../../src/workflow/owed.ts';
import { waitFor } from '../../src/demo/story-steps.ts';
import { MovableClock } from '../../src/demo/promotion-steps.ts';
import type { FaultPoint, Faults } from '../../src/workflow/faults.ts';
import type { Request, RequestState } from '../../src/engine/model.ts';

/**
 * Environments: dev needs no approval; qa one platform approver; prod one platform approver
 * and a weekday 10:00-16:00 Berlin window, with an emergency path that needs a release manager.
 */
export const WORKFLOW_POLICY = `version: 1
approval_ttl: 24h
time_zone: Europe/Berlin
environments:
  - name: dev
    match: { names: [dev] }
    requesters: anyone
    approvals: none
  - name: qa
    match: { names: [qa] }
    requesters: anyone
    approvals: { groups: [platform-approvers], count: 1 }
  - name: prod
    match: { names: [prod] }
    requesters: anyone
    approvals: { groups: [platform-approvers], count: 1 }
    windows:
      time_zone: Europe/Berlin
      weekly:
        - { days: [mon, tue, wed, thu, fri], start: "10:00", end: "16:00" }
    emergency:
      allowed: true
      approvals: { groups: [release-managers], count: 1 }
`;

/** One armed crash: at `point`, when `when` holds, `times` times. */
interface ArmedFault {
  point: FaultPoint;
  times: number;
  when: (ctx: { request?: string; key?: string }) => boolean | Promise<boolean>;
  run?: () => void;
}

/** A fault plan: crashes (or runs a side effect) at named points, and records every hit. */
export class FaultPlan implements Faults {
  private armed: ArmedFault[] = [];
  readonly hits: { point: FaultPoint; request?: string }[] = [];

  /** Crashes the next `times` times `point` is reached where `when` holds. */
  crash(point: FaultPoint, when: ArmedFault['when'] = () => true, times = 1): void {
    this.armed.push({ point, times, when });
  }

  /** Runs `run` instead of crashing (a clock moving between two steps). */
  act(point: FaultPoint, when: ArmedFault['when'], run: () => void): void {
    this.armed.push({ point, times: 1, when, run });
  }

  /** {@inheritDoc Faults.at} */
  async at(point: FaultPoint, ctx: { request?: string; key?: string }): Promise<void> {
    for (const a of this.armed) {
      if (a.point !== point || a.times <= 0 || !(await a.when(ctx))) continue;
      a.times--;
      this.hits.push({ point, ...(ctx.request ? { request: ctx.request } : {}) });
      if (a.run) return a.run();
      throw new Error(`injected crash at ${point}`);
    }
  }

  /** How often `point` was hit (for `request`, when given). */
  count(point: FaultPoint, request?: string): number {
    return this.hits.filter((h) => h.point === point && (!request || h.request === request)).length;
  }
}

/** A running world of one test file. */
export interface WorkflowWorld {
  runtime: Runtime;
  clock: MovableClock;
  faults: FaultPlan;
  close(): Promise<void>;
}

/** Starts the runtime on the test's Redis with {@link WORKFLOW_POLICY}, projects `shop` with environments dev, qa and prod. */
export async function startWorkflowWorld(redis: ReturnType<typeof useRedis>, opts: { start: Date; staleSweepMs?: number; stuckAfterMs?: number }): Promise<WorkflowWorld> {
  await redis.ready();
  const dir = mkdtempSync(join(tmpdir(), 'workflow-'));
  writeFileSync(join(dir, 'policy.yaml'), WORKFLOW_POLICY);
  // The redis-cache bundle makes its ACL user on the server ops point it at: this test's Redis.
  process.env.TS_TARGET_REDIS_URL = redis.url;
  const prefix = uniqueName('flow');
  const config = loadConfig({ REDIS_URL: redis.url, REDIS_PREFIX: `${prefix}:`, LOG_LEVEL: 'silent', DATA_DIR: join(dir, 'data'), POLICY_FILE: join(dir, 'policy.yaml') });
  const clock = new MovableClock(opts.start);
  const faults = new FaultPlan();
  const runtime = await startRuntime({
    config,
    logger: createLogger('silent'),
    clock,
    faults,
    http: false,
    workers: true,
    queues: queueNames(prefix),
    staleSweepMs: opts.staleSweepMs ?? 200,
    ...(opts.stuckAfterMs !== undefined ? { stuckAfterMs: opts.stuckAfterMs } : {}),
  });
  const ctx = { actor: 'platform-admin', surface: 'cli' as const };
  const { engine } = runtime.opened;
  await engine.createProject({ id: 'shop', name: 'Shop' }, ctx);
  for (const name of ['dev', 'qa', 'prod']) await engine.createEnvironment({ project: 'shop', name, labels: { production: name === 'prod' } }, ctx);
  return {
    runtime,
    clock,
    faults,
    close: async () => {
      await runtime.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Files a redis-cache request for `pkg` in `environment` through the workflow, as Dana. */
export function submitCache(world: WorkflowWorld, environment: string, pkg: string, extra: { emergency?: boolean } = {}): Promise<Request> {
  return world.runtime.workflow.submit({
    kind: 'provision',
    actor: { id: 'dana', displayName: 'Dana Developer' },
    origin: { surface: 'cli', ref: `cli-${pkg}` },
    project: 'shop',
    bundle: 'redis-cache',
    answers: { request_environment: environment, request_package: pkg, key_prefix: pkg, access_level: 'read-write' },
    ...extra,
  });
}

/** The answers {@link submitCache} files, for requests a test stores directly. */
export function cacheAnswers(environment: string, pkg: string): Record<string, unknown> {
  return { request_environment: environment, request_package: pkg, key_prefix: pkg, access_level: 'read-write' };
}

/** Waits until request `id` is in `state` (throws at once if it lands in another final-looking state). */
export function waitForState(world: WorkflowWorld, id: string, state: RequestState, timeoutMs = 30_000): Promise<Request> {
  return waitFor(async () => {
    const r = await world.runtime.opened.engine.requests.get(id);
    if (r.state !== state && ['failed', 'invalid', 'rejected', 'cancelled'].includes(r.state)) {
      throw new Error(`request ${r.state}, not ${state}: ${JSON.stringify(r.error ?? r.issues ?? r.decisions)}`);
    }
    return r.state === state ? r : undefined;
  }, `request ${id} ${state}`, timeoutMs);
}

/** The notice or job `key` as handed to BullMQ (undefined while it is not): a notice's own job, or the job of the notices its step owed together. */
export async function queued(world: WorkflowWorld, queue: 'outbox' | 'requests', key: string) {
  const own = await world.runtime.queues[queue].getJob(jobId(key));
  if (own || queue === 'requests') return own ?? undefined;
  const all = await world.runtime.queues.outbox.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized']);
  return all.find((j) => j && noticesOf(j.data).some((n) => n.key === key));
}

/** Waits until the notice or job `key` is in its BullMQ queue. */
export function waitQueued(world: WorkflowWorld, queue: 'outbox' | 'requests', key: string) {
  return waitFor(() => queued(world, queue, key), `${queue} job ${key}`);
}

/** Moves the world's clock `ms` forward (requests waiting since before look that much older). */
export function advance(world: WorkflowWorld, ms: number): void {
  world.clock.set(new Date(world.clock.now().getTime() + ms));
}
