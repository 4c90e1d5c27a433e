/**
 * Where and how the service writes on a requested item. ServiceNow journals are append-only:
 * an entry is never edited, so every entry the service writes ends with a marker naming what it
 * answers ({@link noteMarker}) and is not written again when an entry with that marker exists
 * (looked for on every attempt of a notice but its first, when nothing of it can be there yet).
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

  /**
   * Appends `blocks` for `audience`, once per notice `key`: an entry closed with `key` is looked
   * for first, unless `lookFirst` is false (the notice's first attempt: nothing of it can be in
   * the item yet, so it is appended without the search).
   */
  async post(ritmSysId: string, blocks: Block[], key: string, audience: Audience, opts: { lookFirst?: boolean } = {}): Promise<void> {
    if (opts.lookFirst !== false && (await this.entryWith(ritmSysId, key)) !== undefined) return;
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
   * the request already reports the same state (and the notice adds no new reason). What the
   * request's status entries say is read in one search. `fields` (the item's state and approval)
   * are written in the same PATCH as the entry, or alone when there is no entry to write.
   */
  async status(ritmSysId: string, s: StatusEntry, fields: Record<string, string> = {}): Promise<void> {
    const written = await this.statusEntries(ritmSysId, s.requestId);
    const entry = this.statusEntry(written, s);
    if (entry) await this.append(ritmSysId, entry.blocks, entry.marker, 'internal', fields);
    else if (Object.keys(fields).length) await this.deps.client.update('sc_req_item', ritmSysId, fields);
  }

  /** The entry status `s` adds to the request's status entries `written` (undefined: nothing to add). */
  private statusEntry(written: string[], s: StatusEntry): { blocks: Block[]; marker: string } | undefined {
    const own = noteMarker(s.noticeKey);
    if (written.some((v) => v.endsWith(own) || v.includes(`${own}:plan:`))) return undefined;
    if (s.planHash && !written.some((v) => v.endsWith(`:plan:${s.planHash}`))) return { blocks: s.full, marker: planNoteMarker(s.noticeKey, s.planHash) };
    const latest = latestStatus(written);
    if (latest !== undefined && firstLine(latest) === firstLine(this.render(s.line, '')) && (!s.reason || latest.includes(s.reason))) return undefined;
    return { blocks: s.line, marker: own };
  }

  /** The texts of every status entry of request `requestId` on the item (either journal). */
  private async statusEntries(ritmSysId: string, requestId: string): Promise<string[]> {
    const entries = await this.deps.client.list('sys_journal_field', {
      query: `element_id=${ritmSysId}^${JOURNALS}^valueLIKE${noteMarker(`${requestId}:status:`)}`,
      fields: ['value'],
      max: 200,
    });
    return entries.map((e) => e.value ?? '');
  }

  /** Renders `blocks` within the entry limit, leaving room for `marker`. */
  private render(blocks: Block[], marker: string): string {
    return renderWorkNote(blocks, this.deps.config.workNoteLimit - marker.length - 2).text;
  }

  /** Appends one entry closed with `marker`, with `fields` of the item in the same PATCH. */
  private async append(ritmSysId: string, blocks: Block[], marker: string, audience: Audience, fields: Record<string, string> = {}): Promise<void> {
    await this.deps.client.update('sc_req_item', ritmSysId, { ...fields, [this.column(audience)]: `${this.render(blocks, marker)}\n\n${marker}` });
  }
}

/** The newest of a request's status entries: the one of the highest record revision its marker names. */
function latestStatus(entries: string[]): string | undefined {
  let best: { revision: number; text: string } | undefined;
  for (const text of entries) {
    const m = /ts:note:\S+:status:(\d+)(?::plan:\w+)?\s*$/.exec(text);
    const revision = m ? Number(m[1]) : -1;
    if (!best || revision > best.revision) best = { revision, text };
  }
  return best?.text;
}

function firstLine(text: string): string {
  return text.trimStart().split('\n', 1)[0]!.trim();
}
