/**
 * What a workflow step owes once it is stored: notices for the request's ticket and request
 * steps to run. A step hands its {@link Owed} list to the request write it makes, which stores
 * them in the outbox in the same atomic step (see src/engine/outbox.ts); the outbox relay then
 * hands them to the queues. Keys name each piece of work by request, message and the revision
 * the write produces, so the same work is never queued or posted twice.
 */
import type { Actor, Request } from '../engine/model.ts';
import type { OutboxEntry } from '../engine/outbox.ts';
import type { Owes } from '../engine/requests.ts';

/** The messages a request's progress produces for its surface. */
export type WorkflowMessage =
  | 'status'
  | 'invalid'
  | 'approval-needed'
  | 'approval-counted'
  | 'approval-refused'
  | 'scheduled'
  | 'moved'
  | 'applied'
  | 'failed'
  | 'refused'
  | 'answer'
  | 'drift';

/**
 * One thing to write back to where the request came from. The outbox renders it from the
 * request as stored when it runs; `key` makes it idempotent (the same notice is never posted
 * twice).
 */
export interface WorkflowNotice {
  requestId: string;
  message: WorkflowMessage;
  /** Unique per distinct notice: `<request>:<message>:<record revision>`. */
  key: string;
  /** Free text for event messages (who approved, why refused, where it moved). */
  detail?: {
    actor?: Actor;
    reason?: string;
    text?: string;
    package?: string;
    /** A drift notice to write on the ticket of this drift episode (policy files drift as a new ticket), not the request's. */
    episode?: string;
  };
}

/** A unit of engine work the queue runs (and re-runs after a crash). */
export interface WorkflowJob {
  name: 'evaluate' | 'apply';
  requestId: string;
  /** Idempotency key: the queue drops a second job with the same key. */
  key: string;
  /** Run no earlier than this many milliseconds from now (a change window opening). */
  delayMs?: number;
}

/** A notice a step owes. */
export interface OwedNotice {
  notice: WorkflowMessage;
  detail?: WorkflowNotice['detail'];
  /** Tells apart notices of one message at one revision (an approval refused, per approver). */
  tag?: string;
}

/** A request step a step owes: run it now, or `delayMs` from now (a window opening). */
export interface OwedJob {
  job: WorkflowJob['name'];
  delayMs?: number;
}

/** Work a step owes. */
export type Owed = OwedNotice | OwedJob;

/** The outbox entries of `owed`, keyed by request `r` as stored by the step (its id and revision). */
export function outboxEntries(r: Request, owed: readonly Owed[], now = Date.now()): OutboxEntry[] {
  return owed.map((o): OutboxEntry => {
    if ('job' in o) {
      const job: WorkflowJob = { name: o.job, requestId: r.id, key: `${r.id}:${o.job}:${r.revision}` };
      return { key: job.key, topic: 'job', request: r.id, data: job, ...(o.delayMs ? { runAt: now + o.delayMs } : {}) };
    }
    const key = `${r.id}:${o.notice}:${o.tag ? `${o.tag}:` : ''}${r.revision}`;
    const notice: WorkflowNotice = { requestId: r.id, message: o.notice, key, ...(o.detail ? { detail: o.detail } : {}) };
    return { key, topic: 'notice', request: r.id, data: notice };
  });
}

/** `owed` as a request write's {@link Owes}: keyed by the request the write stores. */
export function owing(owed: readonly Owed[]): Owes {
  return (r) => outboxEntries(r, owed);
}
