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

/**
 * The notices one write owes, written back by ONE outbox job in their order (instead of one job
 * each, which cost the queue's round trips per notice). Each notice keeps its own key, so its
 * exactly-once mark, its dead letter and its replay are the notice's, as a lone notice's are.
 * `message` and `detail` are never set: they tell it apart from a lone {@link WorkflowNotice}.
 */
export interface NoticeBatch {
  requestId: string;
  /** Names the write's notices together: `<request>:<message>[.<tag>]+...:<record revision>`. */
  key: string;
  notices: WorkflowNotice[];
  message?: never;
  detail?: never;
}

/** The notices of an outbox job: the lone notice, or a batch's in order. */
export function noticesOf(data: WorkflowNotice | NoticeBatch): WorkflowNotice[] {
  return 'notices' in data && data.notices ? data.notices : [data as WorkflowNotice];
}

/**
 * The outbox entries of `owed`, keyed by request `r` as stored by the step (its id and revision):
 * one per job, and the notices together in one entry (a lone notice as itself).
 */
export function outboxEntries(r: Request, owed: readonly Owed[], now = Date.now()): OutboxEntry[] {
  const entries: OutboxEntry[] = [];
  const notices: OwedNotice[] = [];
  for (const o of owed) {
    if (!('job' in o)) {
      notices.push(o);
      continue;
    }
    const job: WorkflowJob = { name: o.job, requestId: r.id, key: `${r.id}:${o.job}:${r.revision}` };
    entries.push({ key: job.key, topic: 'job', request: r.id, data: job, ...(o.delayMs ? { runAt: now + o.delayMs } : {}) });
  }
  const written = notices.map((o): WorkflowNotice => {
    const key = `${r.id}:${o.notice}:${o.tag ? `${o.tag}:` : ''}${r.revision}`;
    return { requestId: r.id, message: o.notice, key, ...(o.detail ? { detail: o.detail } : {}) };
  });
  if (written.length === 1) entries.push({ key: written[0]!.key, topic: 'notice', request: r.id, data: written[0] });
  if (written.length > 1) {
    const key = `${r.id}:${notices.map((o) => (o.tag ? `${o.notice}.${o.tag}` : o.notice)).join('+')}:${r.revision}`;
    const batch: NoticeBatch = { requestId: r.id, key, notices: written };
    entries.push({ key, topic: 'notices', request: r.id, data: batch });
  }
  return entries;
}

/** `owed` as a request write's {@link Owes}: keyed by the request the write stores. */
export function owing(owed: readonly Owed[]): Owes {
  return (r) => outboxEntries(r, owed);
}
