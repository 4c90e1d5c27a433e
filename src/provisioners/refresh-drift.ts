/**
 * Reality as a refresh-only plan sees it: `tofu plan -refresh-only` + `show -json` lists, in
 * `resource_drift`, every managed resource whose real attributes differ from the state. Each
 * changed attribute is mapped back to a param when the module's configuration sets it from
 * exactly one variable of that name (`expressions.<attr>.references: ["var.<param>"]`); the
 * rest is reported per resource attribute ("reality only": nothing the bundle's params model).
 */
import { canonicalJson } from '../engine/plan.ts';
import type { ObserveResult } from './types.ts';

interface DriftEntry {
  address?: string;
  change?: { actions?: string[]; before?: unknown; after?: unknown };
}

interface ConfigResource {
  address?: string;
  expressions?: Record<string, { references?: string[] }>;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/** Configuration resources of the root module, by address. */
function configResources(plan: Obj): Map<string, ConfigResource> {
  const config = isObj(plan.configuration) ? plan.configuration : {};
  const root = isObj(config.root_module) ? config.root_module : {};
  const list = Array.isArray(root.resources) ? (root.resources as ConfigResource[]) : [];
  return new Map(list.filter((r) => typeof r.address === 'string').map((r) => [r.address!, r]));
}

/** The param an attribute is set from: its expression refers to one variable, which is a param. */
function paramOf(resource: ConfigResource | undefined, attribute: string, params: ReadonlySet<string>): string | undefined {
  const refs = resource?.expressions?.[attribute]?.references ?? [];
  const vars = [...new Set(refs.filter((r) => r.startsWith('var.')).map((r) => r.slice(4).split('.')[0]!))];
  return vars.length === 1 && refs.every((r) => r.startsWith(`var.${vars[0]}`)) && params.has(vars[0]!) ? vars[0] : undefined;
}

/**
 * The observation in a refresh-only plan (parsed `show -json`): params set from a drifted
 * attribute get its real value; other drifted attributes, and resources deleted outside the
 * service (`{ exists: false }`), are reported per resource address.
 */
export function observationFromRefreshPlan(plan: unknown, paramNames: readonly string[]): ObserveResult {
  const out: ObserveResult = { params: {}, attributes: {} };
  if (!isObj(plan) || !Array.isArray(plan.resource_drift)) return out;
  const params = new Set(paramNames);
  const config = configResources(plan);
  for (const entry of plan.resource_drift as DriftEntry[]) {
    const address = entry.address;
    if (!address) continue;
    const before = isObj(entry.change?.before) ? entry.change.before : {};
    const after = entry.change?.after;
    if (!isObj(after)) {
      out.attributes[address] = { exists: false };
      continue;
    }
    for (const attribute of new Set([...Object.keys(before), ...Object.keys(after)])) {
      if (canonicalJson(before[attribute]) === canonicalJson(after[attribute])) continue;
      const param = paramOf(config.get(address), attribute, params);
      if (param) out.params[param] = after[attribute];
      else (out.attributes[address] ??= {})[attribute] = after[attribute];
    }
  }
  return out;
}
