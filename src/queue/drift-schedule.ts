/**
 * Scheduled drift checks: one BullMQ repeatable job per environment whose drift policy sets a
 * cadence (`check_every`), so a hand change is found without anyone asking. Each run checks
 * every applied package of its environment through the drift desk (as the schedule, never a
 * person); a package whose check fails is logged and the others are still checked. Environments
 * made after start are scheduled at the next re-sync.
 */
import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import { QUEUE_STREAMS } from './queues.ts';
import type { Logger } from '../engine/logger.ts';
import type { Environment, Package } from '../engine/model.ts';

/** What one scheduled run needs of the rest of the service. */
export interface DriftScheduleDeps {
  connection: ConnectionOptions;
  /** The queue's name (one per service). */
  name: string;
  prefix?: string;
  /** Checks one package as the schedule (src/workflow/drift.ts: `check(id)`). */
  check: (packageId: string) => Promise<unknown>;
  environments: () => Promise<Environment[]>;
  packages: (environment: string) => Promise<Package[]>;
  /** How often `environment` is checked (ms), or undefined: only on demand. */
  cadence: (environment: Environment) => number | undefined;
  logger: Logger;
  /** How often new environments and changed cadences are picked up (ms); default one minute. */
  resyncMs?: number;
}

/** The repeatable job's data: the environment it checks. */
interface DriftJobData {
  environment: string;
}

/** The scheduler id of an environment's checks. */
export function driftSchedulerId(environmentId: string): string {
  return `drift.${environmentId.replace(/:/g, '.')}`;
}

/** Scheduled drift checks; see the module comment. */
export class DriftSchedule {
  private readonly queue: Queue<DriftJobData>;
  private worker?: Worker<DriftJobData>;
  private timer?: NodeJS.Timeout;
  private syncing: Promise<void> = Promise.resolve();

  constructor(private readonly deps: DriftScheduleDeps) {
    this.queue = new Queue<DriftJobData>(deps.name, { connection: deps.connection, streams: QUEUE_STREAMS, ...(deps.prefix ? { prefix: deps.prefix } : {}), defaultJobOptions: { removeOnComplete: { count: 1000 }, removeOnFail: { count: 1000 } } });
  }

  /** Schedules every environment with a cadence and starts checking. */
  async start(): Promise<void> {
    const { connection, prefix } = this.deps;
    this.worker = new Worker<DriftJobData>(this.deps.name, (job) => this.run(job.data.environment), { connection, ...(prefix ? { prefix } : {}), concurrency: 1 });
    await this.sync();
    this.timer = setInterval(() => {
      this.syncing = this.syncing.then(() => this.sync()).catch((err: unknown) => this.deps.logger.warn({ err }, 'drift schedule re-sync failed'));
    }, this.deps.resyncMs ?? 60_000);
  }

  /** One repeatable job per environment with a cadence, at that cadence; none for the others. */
  async sync(): Promise<void> {
    const current = await this.scheduled();
    for (const env of await this.deps.environments()) {
      const every = this.deps.cadence(env);
      const id = driftSchedulerId(env.id);
      // Only a changed cadence is written again: an upsert starts the schedule over.
      if (every && current[env.id] !== every) await this.queue.upsertJobScheduler(id, { every }, { name: 'drift.check', data: { environment: env.id } });
      else if (!every && current[env.id] !== undefined) await this.queue.removeJobScheduler(id);
    }
  }

  /** The cadence each scheduled environment is checked at (ms), by environment id. */
  async scheduled(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const s of await this.queue.getJobSchedulers()) if (s.every && s.template?.data?.environment) out[s.template.data.environment] = Number(s.every);
    return out;
  }

  /** Checks every applied package of `environment`; one failure does not stop the others. */
  private async run(environment: string): Promise<void> {
    const applied = (await this.deps.packages(environment)).filter((p) => p.lastAppliedParams && p.status !== 'decommissioned');
    for (const pkg of applied) {
      try {
        await this.deps.check(pkg.id);
      } catch (err) {
        this.deps.logger.warn({ err, package: pkg.id }, 'scheduled drift check failed');
      }
    }
  }

  /** Stops checking (the schedules stay in Redis for the next start). */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.syncing;
    await this.worker?.close();
    await this.queue.close();
  }
}
