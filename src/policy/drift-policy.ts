/**
 * The drift part of policy: who owns which field, and what happens on its own, per environment
 * and per field, when reality changed it (adopt it into the data model, revert it through a
 * normal request, or ask a person), plus how often the scheduled check runs.
 *
 * ```yaml
 * drift:
 *   ops_fields: [production_critical]      # owned by ops, besides what the form overlay fixes
 *   environments:                          # first match wins, like environments[]
 *     - match: { names: [dev] }
 *       check_every: 6h
 *       default: adopt                     # developer-owned fields
 *     - match: { labels: { production: true } }
 *       check_every: 1h
 *       default: ask
 *       ops: revert                        # ops-owned fields
 *       fields: { connection_limit: adopt }
 *       ticket: new                        # a new ticket per drift episode (default: origin)
 * ```
 * A field changed on both sides always asks, whatever policy says (see engine/drift-merge.ts).
 */
import type { FieldOwner, Labels } from '../engine/model.ts';
import { parseDuration } from './duration.ts';
import type { DriftChoice, DriftEnvironmentPolicy, DriftPolicy, DriftTicket, EnvironmentRef, Policy } from './types.ts';

/** The `drift:` section as written (validated by policy-schema.json). */
export interface RawDriftPolicy {
  ops_fields?: string[];
  environments?: {
    match: { names?: string[]; labels?: Labels };
    check_every?: string;
    default?: DriftChoice;
    ops?: DriftChoice;
    fields?: Record<string, DriftChoice>;
    ticket?: DriftTicket;
  }[];
}

/** The typed drift policy of a schema-valid `drift:` section. */
export function normalizeDriftPolicy(raw: RawDriftPolicy): DriftPolicy {
  return {
    opsFields: raw.ops_fields ?? [],
    environments: (raw.environments ?? []).map((e): DriftEnvironmentPolicy => {
      const every = e.check_every ? parseDuration(e.check_every) : null;
      return {
        match: e.match,
        ...(every ? { checkEveryMs: every } : {}),
        dev: e.default ?? 'ask',
        ops: e.ops ?? e.default ?? 'ask',
        fields: e.fields ?? {},
        ticket: e.ticket ?? 'origin',
      };
    }),
  };
}

/** When no entry matches: on demand only, every field asks. */
const ASK_ALWAYS: DriftEnvironmentPolicy = { match: {}, dev: 'ask', ops: 'ask', fields: {}, ticket: 'origin' };

/** The drift entry governing `environment` (first match), or "ask for everything". */
export function driftRulesFor(policy: Policy, environment: EnvironmentRef): DriftEnvironmentPolicy {
  const entry = policy.drift?.environments.find((e) => {
    if (e.match.names && !e.match.names.includes(environment.name)) return false;
    return Object.entries(e.match.labels ?? {}).every(([k, v]) => environment.labels[k] !== undefined && String(environment.labels[k]) === String(v));
  });
  return entry ?? ASK_ALWAYS;
}

/** What policy does on its own with `field` (owned by `owner`) under `rules`. */
export function driftChoice(rules: DriftEnvironmentPolicy, field: string, owner: FieldOwner): DriftChoice {
  return rules.fields[field] ?? rules[owner];
}

/** Who owns a param: ops when policy lists it or the form fixes it, else the developers. */
export function fieldOwner(policy: Policy, field: string, fixedByForm: boolean): FieldOwner {
  return fixedByForm || (policy.drift?.opsFields ?? []).includes(field) ? 'ops' : 'dev';
}
