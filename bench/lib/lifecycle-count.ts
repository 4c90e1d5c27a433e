/**
 * One ticket's whole lifecycle on the happy path (filed, planned, approved, applied, result
 * written), counted: the surface's API calls per phase from its sandbox's call log, and the
 * Redis commands (`INFO commandstats` deltas) and client round trips (socket writes of this
 * process, see `countRedisWrites`) of the whole lifecycle, beside the same counts for an idle
 * stretch of the same length (the workers' blocking reads and timers), which is subtracted.
 *
 * The phases, bounded by the sandbox's answer times and the request's history:
 * created -> plan visible (the status comment or work note that shows the plan), approval (plan
 * visible -> the request approved), apply (approved -> applied), result (applied -> the surface
 * quiet again, the result written).
 */
import { Redis } from 'ioredis';
import { countPhases, type LoggedCall, type PhaseCount } from './call-count.ts';
import { commandStats, countRedisWrites, statsDelta, type CommandStats } from './redis-count.ts';

/** The phases' names, as the tables and the summary line use them. */
export const PHASES = ['created -> plan visible', 'approval', 'apply', 'result', 'whole lifecycle'] as const;

/** What the lifecycle needs of a surface and its world. */
export interface LifecycleWorld {
  /** The surface sandbox's call log (appended to as calls are answered). */
  calls: () => LoggedCall[];
  /** Files the ticket as a person; returns its reference. */
  file: () => Promise<string>;
  /** When the write that shows the plan (or the result, with `result`) was answered, epoch ms. */
  shown: (ref: string, what: 'plan' | 'result') => number | undefined;
  /** The approver approves the ticket. */
  approve: (ref: string) => Promise<void> | void;
  /** The request's history instants (epoch ms) of the ticket. */
  history: (ref: string) => Promise<{ approved?: number; applied?: number }>;
  /** A call's name: method and path template. */
  name: (c: LoggedCall) => string;
  /** Redis URL of the service. */
  redisUrl: string;
}

/** The counts of one lifecycle. */
export interface LifecycleCount {
  phases: PhaseCount[];
  /** Commands of the lifecycle, idle stretch subtracted. */
  commands: CommandStats;
  /** Round trips of the lifecycle, idle stretch subtracted. */
  roundTrips: number;
  /** Round trips and commands of the idle stretch alone (same length). */
  idle: { roundTrips: number; commands: number; seconds: number };
  /** Every call of the lifecycle (for the unnamed rest). */
  calls: LoggedCall[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `probe` answers, polling every 20 ms, at most `ms`. */
async function until<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Waits until no call was answered for `quietMs` (at most 15 s). */
async function quiet(calls: () => LoggedCall[], quietMs = 600): Promise<number> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const last = calls().at(-1)?.at.getTime() ?? 0;
    if (Date.now() - last >= quietMs || Date.now() > deadline) return Date.now();
    await sleep(50);
  }
}

/** One lifecycle walked (see the module comment), its calls counted per phase. */
export interface WalkedLifecycle {
  ref: string;
  phases: PhaseCount[];
  /** Every call of the lifecycle. */
  calls: LoggedCall[];
  /** When it was filed and when the surface was quiet again, epoch ms. */
  t0: number;
  end: number;
}

/**
 * Files a ticket, waits for its plan and for the surface to be quiet for `quietMs`, approves it,
 * waits for the result and quiet again; counts the calls per phase.
 */
export async function walkLifecycle(w: LifecycleWorld, quietMs = 600): Promise<WalkedLifecycle> {
  const first = w.calls().length;
  const t0 = Date.now();
  const ref = await w.file();
  const t1 = await until(() => w.shown(ref, 'plan'), 'the plan to be shown');
  await quiet(w.calls, quietMs);
  await w.approve(ref);
  await until(() => w.shown(ref, 'result'), 'the result to be shown');
  const end = await quiet(w.calls, quietMs);
  const h = await w.history(ref);
  const calls = w.calls().slice(first);
  const bounds = [
    { name: PHASES[0], from: t0, to: t1 },
    { name: PHASES[1], from: t1, to: h.approved ?? Number.NaN },
    { name: PHASES[2], from: h.approved ?? Number.NaN, to: h.applied ?? Number.NaN },
    { name: PHASES[3], from: h.applied ?? Number.NaN, to: end },
    { name: PHASES[4], from: t0, to: end },
  ];
  return { ref, phases: countPhases(calls, bounds, w.name), calls, t0, end };
}

/** Runs one lifecycle and counts it (see the module comment). */
export async function countLifecycle(w: LifecycleWorld, redisPort: number): Promise<LifecycleCount> {
  const probe = new Redis(w.redisUrl, { lazyConnect: true });
  await probe.connect();
  try {
    const writes = countRedisWrites(redisPort, [probe]);
    const stats0 = await commandStats(probe);
    const walked = await walkLifecycle(w);
    const stats1 = await commandStats(probe);
    const lifecycleWrites = writes.count();
    // The same length of idle time: what the workers ask of Redis while nothing happens.
    const idleMs = walked.end - walked.t0;
    await sleep(idleMs);
    const stats2 = await commandStats(probe);
    const idleWrites = writes.count() - lifecycleWrites;
    writes.stop();
    const lifecycle = statsDelta(stats0, stats1);
    const idle = statsDelta(stats1, stats2);
    const commands: CommandStats = { byCommand: new Map(), total: lifecycle.total - idle.total };
    for (const [k, v] of lifecycle.byCommand) {
      const d = v - (idle.byCommand.get(k) ?? 0);
      if (d > 0) commands.byCommand.set(k, d);
    }
    return {
      phases: walked.phases,
      commands,
      roundTrips: lifecycleWrites - idleWrites,
      idle: { roundTrips: idleWrites, commands: idle.total, seconds: idleMs / 1000 },
      calls: walked.calls,
    };
  } finally {
    probe.disconnect();
  }
}
