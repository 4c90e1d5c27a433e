/**
 * The lease jobs of stacks (src/workflow/stacks.ts) as BullMQ delayed jobs: reminders and the
 * expiry of each lease generation, job ids derived from (environment, generation, kind), so a
 * job scheduled twice (at start, after a crash) is one job. A job that fires asks the stack
 * desk, which does nothing for a generation an extension replaced.
 */
import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import type { Logger } from '../engine/logger.ts';
import type { LeaseJob, LeaseScheduler } from '../workflow/stacks.ts';
import { jobId, QUEUE_STREAMS } from './queues.ts';

/** What a lease job carries. */
interface LeaseJobData {
  stack: string;
  generation: number;
}

/** Options of {@link LeaseJobs}. */
export interface LeaseJobsOptions {
  connection: ConnectionOptions;
  name: string;
  prefix?: string;
  /** Runs when a job fires (the stack desk's `leaseDue`). */
  due: (stack: string, generation: number) => Promise<unknown>;
  logger: Logger;
}

/** The lease queue and its worker. */
export class LeaseJobs implements LeaseScheduler {
  private readonly queue: Queue<LeaseJobData>;
  private worker?: Worker<LeaseJobData>;

  constructor(private readonly opts: LeaseJobsOptions) {
    const keep = { removeOnComplete: { age: 7 * 24 * 3600 }, removeOnFail: { age: 30 * 24 * 3600 } };
    this.queue = new Queue<LeaseJobData>(opts.name, { connection: opts.connection, streams: QUEUE_STREAMS, ...(opts.prefix ? { prefix: opts.prefix } : {}), defaultJobOptions: { attempts: 10, backoff: { type: 'exponential', delay: 1000 }, ...keep } });
  }

  /** {@inheritDoc LeaseScheduler.schedule} */
  async schedule(jobs: LeaseJob[]): Promise<void> {
    for (const j of jobs) await this.queue.add(`lease.${j.kind}`, { stack: j.stack, generation: j.generation }, { jobId: jobId(j.id), delay: Math.max(0, j.delayMs) });
  }

  /** The delayed jobs waiting, by id (for tests and the CLI). */
  async waiting(): Promise<{ id: string; delay: number; timestamp: number }[]> {
    const jobs = await this.queue.getDelayed();
    return jobs.map((j) => ({ id: j.id ?? '', delay: j.opts.delay ?? 0, timestamp: j.timestamp }));
  }

  /** Starts running due jobs. */
  start(): void {
    this.worker = new Worker<LeaseJobData>(this.opts.name, (job) => this.opts.due(job.data.stack, job.data.generation).then(() => undefined), {
      connection: this.opts.connection,
      ...(this.opts.prefix ? { prefix: this.opts.prefix } : {}),
      concurrency: 2,
    });
    this.worker.on('failed', (job, err) => this.opts.logger.warn({ job: job?.id, err }, 'lease job failed'));
  }

  async close(): Promise<void> {
    await this.worker?.close();
    await this.queue.close();
  }
}
