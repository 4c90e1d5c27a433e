/**
 * The "Decommission a package" catalog item: ServiceNow's way to give a package back. Its
 * Package variable is a select box whose choices are the project's live packages, read from the
 * inventory on every forms sync (and re-synced when a package is deployed or given back); its
 * Reason variable is optional. An order of it files a `decommission` request through the same
 * workflow as `/decommission` (same checks, same roles, same approvals), and the requested item
 * follows that request like any other item.
 */
import type { Package } from '../../engine/model.ts';
import type { SurfaceIdStore } from '../../engine/surface-ids.ts';
import type { Engine } from '../../workflow/engine.ts';
import type { ServiceNowClient } from './client.ts';
import { SN_VARIABLE_TYPES, type ServiceNowVariableSpec } from './form-renderer.ts';
import type { ServiceNowItemDefinition } from './forms-sync.ts';

/** Key of the decommission item (a key no bundle can have). */
export const DECOMMISSION_ITEM_KEY = '@decommission';

/** States of a package that can still be given back (offered as choices). */
const LIVE = new Set<Package['status']>(['provisioning', 'ready', 'failed']);

/** The packages of `project` that can be given back, by id. */
export async function livePackages(engine: Engine, project: string): Promise<Package[]> {
  const all = await engine.listPackages({});
  return all.filter((p) => p.project === project && LIVE.has(p.status)).sort((a, b) => a.id.localeCompare(b.id));
}

/** The item with one choice per package in `packages` (see the module comment). */
export function decommissionItem(packages: Package[]): ServiceNowItemDefinition {
  const base = { read_only: false, active: true, show_help: true, default_value: '' };
  const variables: ServiceNowVariableSpec[] = [
    {
      formField: 'package',
      typeName: 'Select Box',
      // Choices from the inventory: re-synced like the bundles' dynamic dropdowns.
      dynamic: { source: 'packages', bundle: '*' },
      record: {
        ...base,
        name: 'package',
        question_text: 'Package',
        type: SN_VARIABLE_TYPES.selectBox,
        order: 100,
        mandatory: true,
        help_text: 'The package to give back: it is destroyed after the approvals its environment needs.',
        tooltip: 'Pick a package',
      },
    },
    {
      formField: 'reason',
      typeName: 'Multi Line Text',
      record: {
        ...base,
        name: 'reason',
        question_text: 'Reason',
        type: SN_VARIABLE_TYPES.multiLineText,
        order: 200,
        mandatory: false,
        help_text: 'Why it is no longer needed (kept with the request).',
        tooltip: 'Optional',
      },
    },
  ];
  return {
    key: DECOMMISSION_ITEM_KEY,
    spec: {
      bundle: DECOMMISSION_ITEM_KEY,
      version: '1',
      item: {
        name: 'Decommission a package',
        short_description: 'Give back a package: its resources are destroyed after the approvals its environment needs.',
        description: 'A package another package still uses is not destroyed unless the environment\'s policy allows it; the item says which.',
        active: true,
      },
      variables,
      choices: packages.map((p, i) => ({ question: 'package', text: `${p.id} (${p.bundle} ${p.version})`.slice(0, 100), value: p.id, order: (i + 1) * 100, inactive: false })),
      regexes: [],
    },
  };
}

/** What a requested item of the decommission item asks: the package id and the reason (both trimmed; '' when empty). */
export async function decommissionAnswers(client: ServiceNowClient, ids: SurfaceIdStore, ritmSysId: string): Promise<{ packageId: string; reason: string }> {
  const links = await client.list('sc_item_option_mtom', { query: `request_item=${ritmSysId}`, fields: ['sc_item_option.item_option_new', 'sc_item_option.value'] });
  const prefix = `variable/${DECOMMISSION_ITEM_KEY}/`;
  const keys = await ids.keysOf('servicenow', links.map((l) => l['sc_item_option.item_option_new'] ?? ''));
  const variables: Record<string, string> = {};
  for (const [i, l] of links.entries()) {
    const key = keys[i];
    if (key?.startsWith(prefix)) variables[key.slice(prefix.length)] = (l['sc_item_option.value'] ?? '').trim();
  }
  let packageId = variables.package ?? '';
  // A select box holds the choice value; should an instance hand the choice's sys_id, map it back.
  const choiceKey = packageId ? await ids.keyOf('servicenow', packageId) : undefined;
  const choicePrefix = `choice/${DECOMMISSION_ITEM_KEY}/package/`;
  if (choiceKey?.startsWith(choicePrefix)) packageId = choiceKey.slice(choicePrefix.length);
  return { packageId, reason: variables.reason ?? '' };
}
