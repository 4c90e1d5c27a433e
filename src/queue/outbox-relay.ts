/**
 * The outbox relay: hands the work requests owe (stored in the outbox by the same atomic write
 * as the state change that owes it; see src/engine/outbox.ts) to the durable queues, then
 * removes it from the outbox (a round's handed-over entries together, in one step). Each entry is added under a job id derived from its key, so a
 * crash between the hand-over and the removal only hands it over again under the same id,
 * which the queue ignores: every entry reaches the queue exactly once.
 *
 * The relay hands over what this process stores as soon as it is stored, and polls for entries
 * other processes stored (an HTTP-only process files requests; a worker process relays them).
 * Any number of relays may run: they hand over the same entries under the same ids.
 */
import type { Queue } from 'bullmq';
import type { Logger } from '../engine/logger.ts';
import type { LostEntry, Outbox, OutboxEntry } from '../engine/outbox.ts';
import { NO_FAULTS, type Faults } from '../workflow/faults.ts';
import type { NoticeBatch, WorkflowJob, WorkflowNotice, WorkflowPorts } from '../workflow/workflow.ts';

/** Options of {@link OutboxRelay}. */
export interface OutboxRelayOptions {
  outbox: Outbox;
  /** The queues entries are handed to (idempotent by key). */
  ports: WorkflowPorts;
  logger: Logger;
  /** How often to look for entries other processes wrote (ms, default 100). */
  pollMs?: number;
  /** Entries handed over per round (default 100). */
  batch?: number;
  /** Crash injection for tests (`relay-after-add`). */
  faults?: Faults;
}

/** Hands outbox entries to the queues; see the module comment. */
export class OutboxRelay {
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  /** Every hand-over runs on this one chain, so entries reach the queues in the order they were owed. */
  private chain: Promise<unknown> = Promise.resolve();
  private drainQueued = false;

  constructor(private readonly opts: OutboxRelayOptions) {}

  /** Starts relaying: what this process stores at once, what others stored every `pollMs`. */
  start(): void {
    this.unsubscribe = this.opts.outbox.onWrite((entries) => {
      void this.serial(() => this.relayAll(entries)).catch((err: unknown) => this.failed(err));
    });
    this.timer = setInterval(() => this.kick(), this.opts.pollMs ?? 100);
    this.kick();
  }

  /** Queues a drain unless one is queued already; failures are logged and the next round tries again. */
  private kick(): void {
    if (this.drainQueued) return;
    this.drainQueued = true;
    void this.drain().catch((err: unknown) => this.failed(err));
  }

  private failed(err: unknown): void {
    this.opts.logger.warn({ err }, 'outbox relay round failed; retrying');
  }

  /** Runs `task` after every hand-over queued before it. */
  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.chain.then(task);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Hands every pending entry over and removes it, until the outbox is empty; returns how many it handed over. */
  drain(): Promise<number> {
    return this.serial(async () => {
      this.drainQueued = false;
      const batch = this.opts.batch ?? 100;
      let total = 0;
      for (;;) {
        const entries = await this.opts.outbox.pending(batch);
        total += await this.relayAll(entries);
        if (entries.length < batch) return total;
      }
    });
  }

  /**
   * Hands `entries` over in order, then removes those handed over (and the lost ones) in one
   * step; returns how many it handed over. Each is removed only after its hand-over: when a
   * hand-over fails, the ones before it are still removed; a crash before the removal leaves
   * them to be handed over again under the same job ids.
   */
  private async relayAll(entries: readonly (OutboxEntry | LostEntry)[]): Promise<number> {
    const done: string[] = [];
    let n = 0;
    try {
      for (const entry of entries) {
        n += await this.relay(entry);
        done.push(entry.key);
      }
    } finally {
      await this.opts.outbox.removeAll(done);
    }
    return n;
  }

  /** Hands one entry over (its removal is the caller's). A lost or unreadable entry is only logged. */
  private async relay(entry: OutboxEntry | LostEntry): Promise<number> {
    if ('lost' in entry) {
      // Another relay removing what it handed over is routine; damaged JSON is worth a warning.
      if (entry.lost === 'unreadable') this.opts.logger.warn({ key: entry.key }, 'outbox entry unreadable; dropped');
      else this.opts.logger.debug({ key: entry.key }, 'outbox entry handed over by another relay meanwhile');
      return 0;
    }
    await this.handOver(entry);
    await (this.opts.faults ?? NO_FAULTS).at('relay-after-add', { request: entry.request, key: entry.key });
    return 1;
  }

  /** Adds the entry to its queue under its key (a second add of the same key is a no-op there). */
  private async handOver(entry: OutboxEntry): Promise<void> {
    if (entry.topic === 'notice' || entry.topic === 'notices') {
      await this.opts.ports.notify(entry.data as WorkflowNotice | NoticeBatch);
      return;
    }
    const job = entry.data as WorkflowJob;
    const delayMs = entry.runAt !== undefined ? Math.max(0, entry.runAt - Date.now()) : 0;
    await this.opts.ports.enqueue({ name: job.name, requestId: job.requestId, key: entry.key, ...(delayMs > 0 ? { delayMs } : {}) });
  }

  /** Stops relaying; waits for the hand-overs in progress. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe?.();
    await this.chain;
  }
}

/** Job states in which a request's job still owns it (will run, or is running). */
const OWNING_STATES = ['wait', 'delayed', 'active', 'prioritized', 'waiting-children'] as const;

/**
 * Requests that have a job in the requests queue that will run or is running: the recovery
 * sweep leaves them alone. (A job that failed for good, or completed, owns nothing.)
 */
export async function requestsWithJobs(requests: Queue<{ requestId: string }>): Promise<Set<string>> {
  const jobs = await requests.getJobs([...OWNING_STATES]);
  return new Set(jobs.filter((j) => j?.data?.requestId).map((j) => j.data.requestId));
}
