/**
 * Which `environments[]` entry of the policy governs an environment.
 */
import type { EnvironmentPolicy, EnvironmentRef, Policy } from './types.ts';

/**
 * The first entry whose `match` fits: the environment's name is in `names` (when given) and it
 * carries every label in `labels` with the same value (compared as text) (when given). First match wins, so ops
 * put specific entries (by name) above broad ones (by label). Null when nothing matches.
 */
export function matchEnvironment(policy: Policy, environment: EnvironmentRef): EnvironmentPolicy | null {
  return (
    policy.environments.find((e) => {
      if (e.match.names && !e.match.names.includes(environment.name)) return false;
      for (const [k, v] of Object.entries(e.match.labels ?? {})) {
        // Labels arrive from surfaces as text as often as typed ("true" vs true): compare as text.
        const have = environment.labels[k];
        if (have === undefined || String(have) !== String(v)) return false;
      }
      return true;
    }) ?? null
  );
}
