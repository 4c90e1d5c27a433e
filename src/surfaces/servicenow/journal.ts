/**
 * Where and how the service writes on a requested item. ServiceNow journals are append-only:
 * an entry is never edited, so every entry the service writes ends with a marker naming what it
 * answers ({@link noteMarker}) and is not written again when an entry with that marker exists.
 *
 * Two audiences, two journals (configurable, `journal:` in the surface's mapping file): what the
 * requester must read (answers, refusals to act on, results) goes to the additional comments
 * they see, internal detail (the plan, policy, approvals, states) to the work notes.
 *
 * A request's status is written the way a journal can hold it: the full status (plan, policy,
 * next step) once per plan, its marker naming the plan ({@link planNoteMarker}); after that, each
 * change of state adds one short status line, and a state already reported adds nothing.
 */
import type { Block } from '../shared/blocks.ts';
import type { ServiceNowClient } from './client.ts';
import type { ServiceNowSurfaceConfig } from './config.ts';
import { renderWorkNote } from './text-renderer.ts';

/** Who an entry is for: the requester (additional comments by default) or the people working the item (work notes). */
export type Audience = 'requester' | 'internal';

/** A journal column of a task. */
export type JournalColumn = 'comments' | 'work_notes';

/** The marker closing every entry the service writes: the notice key, for idempotency. */
export function noteMarker(noticeKey: string): string {
  return `ts:note:${noticeKey}`;
}

/** The marker of a status entry (notice `noticeKey`) that carries the full plan `hashPrefix`. */
export function planNoteMarker(noticeKey: string, hashPrefix: string): string {
  return `${noteMarker(noticeKey)}:plan:${hashPrefix}`;
}

/** How a person calls a journal column in sentences ("write a work note /apply"). */
export function entryWord(column: JournalColumn): string {
  return column === 'comments' ? 'an additional comment' : 'a work note';
}

/** A status entry to write: both renderings of the request's status, the plan it shows, and its notice. */
export interface StatusEntry {
  requestId: string;
  noticeKey: string;
  /** The full status (plan, policy, next step), written once per plan. */
  full: Block[];
  /** The short status line written for every later change of state. */
  line: Block[];
  /** The plan's hash prefix, when the request has a plan. */
  planHash?: string;
  /** Extra text the notice carries (a queued apply ...): a line repeating the state but saying it is new. */
  reason?: string;
}

const JOURNALS = 'elementINwork_notes,comments';

/** Writes and reads the service's entries on requested items. */
export class ServiceNowJournal {
  constructor(private readonly deps: { client: ServiceNowClient; config: ServiceNowSurfaceConfig }) {}

  /** The journal column `audience` reads. */
  column(audience: Audience): JournalColumn {
    return this.deps.config.journal[audience];
  }

  /** Appends a one-line remark for `audience` (a refused command, close or edit); not keyed. */
  async remark(ritmSysId: string, text: string, audience: Audience): Promise<void> {
    await this.deps.client.update('sc_req_item', ritmSysId, { [this.column(audience)]: text });
  }

  /** Appends `blocks` for `audience`, once per notice `key`. */
  async post(ritmSysId: string, blocks: Block[], key: string, audience: Audience): Promise<void> {
    if ((await this.entryWith(ritmSysId, key)) !== undefined) return;
    await this.append(ritmSysId, blocks, noteMarker(key), audience);
  }

  /** The text of the entry the service closed with `key` (naming a plan or not), if it wrote one (in either journal). */
  async entryWith(ritmSysId: string, key: string): Promise<string | undefined> {
    const [entry] = await this.deps.client.list('sys_journal_field', {
      query: `element_id=${ritmSysId}^${JOURNALS}^valueENDSWITH${noteMarker(key)}^ORvalueLIKE${noteMarker(key)}:plan:`,
      fields: ['sys_id', 'value'],
      max: 1,
    });
    return entry ? (entry.value ?? '') : undefined;
  }

  /**
   * Writes a request's status for the internal audience: the full status when its plan is in no
   * entry yet ({@link planNoteMarker}), else the short line, unless the latest status entry of
   * the request already reports the same state (and the notice adds no new reason).
   */
  async status(ritmSysId: string, s: StatusEntry): Promise<void> {
    if ((await this.entryWith(ritmSysId, s.noticeKey)) !== undefined) return;
    if (s.planHash && !(await this.hasPlan(ritmSysId, s.requestId, s.planHash))) {
      await this.append(ritmSysId, s.full, planNoteMarker(s.noticeKey, s.planHash), 'internal');
      return;
    }
    const line = this.render(s.line, '');
    const latest = await this.latestStatus(ritmSysId, s.requestId);
    if (latest !== undefined && firstLine(latest) === firstLine(line) && (!s.reason || latest.includes(s.reason))) return;
    await this.append(ritmSysId, s.line, noteMarker(s.noticeKey), 'internal');
  }

  /** The newest status entry of a request: the one of the highest record revision its marker names. */
  private async latestStatus(ritmSysId: string, requestId: string): Promise<string | undefined> {
    const entries = await this.deps.client.list('sys_journal_field', {
      query: `element_id=${ritmSysId}^${JOURNALS}^valueLIKE${noteMarker(`${requestId}:status:`)}`,
      fields: ['value'],
      max: 200,
    });
    let best: { revision: number; text: string } | undefined;
    for (const e of entries) {
      const m = /ts:note:\S+:status:(\d+)(?::plan:\w+)?\s*$/.exec(e.value ?? '');
      const revision = m ? Number(m[1]) : -1;
      if (!best || revision > best.revision) best = { revision, text: e.value ?? '' };
    }
    return best?.text;
  }

  /** True when a status entry of request `requestId` carries plan `hashPrefix`. */
  private async hasPlan(ritmSysId: string, requestId: string, hashPrefix: string): Promise<boolean> {
    const rows = await this.deps.client.list('sys_journal_field', {
      query: `element_id=${ritmSysId}^${JOURNALS}^valueLIKE${noteMarker(`${requestId}:status:`)}^valueENDSWITH:plan:${hashPrefix}`,
      fields: ['sys_id'],
      max: 1,
    });
    return rows.length > 0;
  }

  /** Renders `blocks` within the entry limit, leaving room for `marker`. */
  private render(blocks: Block[], marker: string): string {
    return renderWorkNote(blocks, this.deps.config.workNoteLimit - marker.length - 2).text;
  }

  private async append(ritmSysId: string, blocks: Block[], marker: string, audience: Audience): Promise<void> {
    await this.deps.client.update('sc_req_item', ritmSysId, { [this.column(audience)]: `${this.render(blocks, marker)}\n\n${marker}` });
  }
}

function firstLine(text: string): string {
  return text.trimStart().split('\n', 1)[0]!.trim();
}
