/**
 * Atlassian's OpenAPI documents for Jira Cloud (platform REST v3 and Jira Service Management),
 * vendored in sandbox/specs, as one {@link ContractSet} for the Jira sandbox.
 */
import { ContractSet, OpenApiContract } from '../contract/openapi-contract.ts';

/**
 * Statuses any Jira operation may answer although few declare them: 429 from the rate limiter
 * (the spec's own notes say only nine operations list it) and 503 when the site is overloaded.
 */
export const JIRA_GLOBAL_STATUSES = [429, 503];

/** Loads both Jira documents (about 3 MB of JSON, ~100 ms); build one set per test file. */
export function loadJiraContracts(): ContractSet {
  const dir = new URL('../specs/', import.meta.url);
  return new ContractSet([
    OpenApiContract.fromFile(new URL('jira-platform-v3.json', dir), { name: 'jira-platform-v3', globalStatuses: JIRA_GLOBAL_STATUSES }),
    OpenApiContract.fromFile(new URL('jira-servicedesk.json', dir), { name: 'jira-servicedesk', globalStatuses: JIRA_GLOBAL_STATUSES }),
  ]);
}
