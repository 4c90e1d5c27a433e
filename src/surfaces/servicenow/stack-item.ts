/**
 * Stacks on ServiceNow. The "Preview environment" catalog item (a Stack select box whose choices
 * are the repository's stack templates, and an Environment name) is ServiceNow's way to ask for
 * a stack; an order of it goes through the same shared `/stack` command as a work note
 * `/stack <template> <name>` on any requested item. The requested item is then the stack's
 * ticket, written by {@link ServiceNowStackNotes}: journals are append-only, so the stack's
 * status note is written once per change (found again by its marker, never twice), reminders
 * once each by their key, and when the stack is destroyed the item is Closed Complete with
 * what it cost while it lived.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { REPO_ROOT } from '../../engine/config-file.ts';
import type { BundleRegistry } from '../../engine/registry/index.ts';
import { loadStackTemplates } from '../../workflow/stack-template.ts';
import type { SurfaceIdStore } from '../../engine/surface-ids.ts';
import type { Stack } from '../../workflow/stack-store.ts';
import type { StackNotifier, StackView } from '../../workflow/stacks.ts';
import type { Block } from '../shared/blocks.ts';
import { stackBlocks } from '../shared/stack-view.ts';
import type { ServiceNowClient } from './client.ts';
import { SN_VARIABLE_TYPES, type ServiceNowVariableSpec } from './form-renderer.ts';
import type { ServiceNowItemDefinition } from './forms-sync.ts';
import { noteMarker, type ServiceNowJournal } from './journal.ts';

/** Key of the preview environment item (a key no bundle can have). */
export const STACK_ITEM_KEY = '@stack';

/** sc_req_item.state codes a stack's item moves through. */
const STATE = { pending: '-5', workInProgress: '2', closedComplete: '3' } as const;

/** The item with one Stack choice per template in `templates` (see the module comment). */
export function stackItem(templates: string[]): ServiceNowItemDefinition {
  const base = { read_only: false, active: true, show_help: true, default_value: '', mandatory: true };
  const variables: ServiceNowVariableSpec[] = [
    {
      formField: 'template',
      typeName: 'Select Box',
      record: { ...base, name: 'template', question_text: 'Stack', type: SN_VARIABLE_TYPES.selectBox, order: 100, help_text: 'What the environment holds: a stack template of the repository.', tooltip: 'Pick a stack' },
    },
    {
      formField: 'name',
      typeName: 'Single Line Text',
      record: { ...base, name: 'name', question_text: 'Environment name', type: SN_VARIABLE_TYPES.singleLineText, order: 200, help_text: 'Lowercase letters, digits and hyphens, for example pr-42.', tooltip: 'For example pr-42' },
    },
  ];
  return {
    key: STACK_ITEM_KEY,
    spec: {
      bundle: STACK_ITEM_KEY,
      version: '1',
      item: {
        name: 'Preview environment',
        short_description: 'A preview environment of a stack: every package of it planned and applied, leased, then destroyed when the lease runs out.',
        description: 'Extend the lease with a work note /extend <duration>; a stack that stopped goes on with /resume.',
        active: true,
      },
      variables,
      choices: templates.map((t, i) => ({ question: 'template', text: t, value: t, order: (i + 1) * 100, inactive: false })),
      regexes: [],
    },
  };
}

/**
 * The preview environment item over the repository's stack templates (as the service loads
 * them), for the command-line forms sync and doctor; none when there is no template or they do
 * not load (the service logs why when it starts).
 */
export async function repositoryStackItems(registry: BundleRegistry): Promise<ServiceNowItemDefinition[]> {
  const templates = await loadStackTemplates(join(REPO_ROOT, 'examples', 'stacks'), registry).catch(() => new Map());
  return templates.size ? [stackItem([...templates.keys()].sort())] : [];
}

/** What a requested item of the stack item asks: the template and the environment name (trimmed; '' when empty). */
export async function stackItemAnswers(client: ServiceNowClient, ids: SurfaceIdStore, ritmSysId: string): Promise<{ template: string; name: string }> {
  const links = await client.list('sc_item_option_mtom', { query: `request_item=${ritmSysId}`, fields: ['sc_item_option.item_option_new', 'sc_item_option.value'] });
  const prefix = `variable/${STACK_ITEM_KEY}/`;
  const keys = await ids.keysOf('servicenow', links.map((l) => l['sc_item_option.item_option_new'] ?? ''));
  const variables: Record<string, string> = {};
  for (const [i, l] of links.entries()) {
    const key = keys[i];
    if (key?.startsWith(prefix)) variables[key.slice(prefix.length)] = (l['sc_item_option.value'] ?? '').trim();
  }
  let template = variables.template ?? '';
  // A select box holds the choice value; should an instance hand the choice's sys_id, map it back.
  const choiceKey = template ? await ids.keyOf('servicenow', template) : undefined;
  const choicePrefix = `choice/${STACK_ITEM_KEY}/template/`;
  if (choiceKey?.startsWith(choicePrefix)) template = choiceKey.slice(choicePrefix.length);
  return { template, name: variables.name ?? '' };
}

/** Dependencies of {@link ServiceNowStackNotes}. */
export interface ServiceNowStackNotesDeps {
  client: ServiceNowClient;
  journal: ServiceNowJournal;
  /** Runs a write after the writes already queued for the same requested item. */
  serialize: (ritmSysId: string, work: () => Promise<void>) => Promise<void>;
}

/** Writes a stack's requested item (see the module comment). */
export class ServiceNowStackNotes implements StackNotifier {
  constructor(private readonly deps: ServiceNowStackNotesDeps) {}

  /**
   * The stack's status as an internal note, once per change of where it is (its state, summary
   * or lease: a package moving inside a step adds nothing) and once per event; a status without
   * an event that a note with one said already adds nothing. The item is Pending while a
   * package waits for approval, else Work in Progress until the stack is destroyed.
   */
  async status(stack: Stack, view: StackView): Promise<void> {
    const ref = stack.origin.ref;
    await this.deps.serialize(ref, async () => {
      const want = view.state === 'waiting' ? STATE.pending : view.state === 'destroyed' ? undefined : STATE.workInProgress;
      if (want) await this.moveTo(ref, want);
      const where = `stack-${stack.id}:${view.state}:${fingerprint([view.state, view.summary, view.lease ?? ''])}`;
      if (view.event) await this.deps.journal.post(ref, stackBlocks(view), `${where}:${fingerprint([view.event])}`, 'internal');
      else if (!(await this.said(ref, where))) await this.deps.journal.post(ref, stackBlocks(view), where, 'internal');
    });
  }

  /** True when a note of the item carries marker `key` (with an event after it or not). */
  private async said(ref: string, key: string): Promise<boolean> {
    const rows = await this.deps.client.list('sys_journal_field', { query: `element_id=${ref}^elementINwork_notes,comments^valueLIKE${noteMarker(key)}`, fields: ['sys_id'], max: 1 });
    return rows.length > 0;
  }

  /** `text` for the requester, once under `key`. */
  async once(stack: Stack, key: string, text: string): Promise<void> {
    await this.deps.serialize(stack.origin.ref, () => this.deps.journal.post(stack.origin.ref, [paragraph(text)], key, 'requester'));
  }

  /** The requester is told what the stack cost, and the item is Closed Complete. */
  async close(stack: Stack): Promise<void> {
    const ref = stack.origin.ref;
    await this.deps.serialize(ref, async () => {
      const cost = `$${(stack.costLived ?? 0).toFixed(2)}`;
      await this.deps.journal.post(ref, [paragraph(`✔ Preview environment ${stack.id} destroyed: everything in it is gone. It cost ${cost} while it lived.`)], `stack-${stack.id}:closed`, 'requester');
      await this.moveTo(ref, STATE.closedComplete);
    });
  }

  /** Moves the item to `state` unless it is there already. */
  private async moveTo(ref: string, state: string): Promise<void> {
    const ritm = await this.deps.client.get('sc_req_item', ref, ['sys_id', 'state']);
    if (ritm && ritm.state !== state) await this.deps.client.update('sc_req_item', ref, { state });
  }
}

/** A short fingerprint of what a note says. */
function fingerprint(parts: string[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 12);
}

function paragraph(text: string): Block {
  return { type: 'paragraph', content: [{ type: 'text', text }] };
}
