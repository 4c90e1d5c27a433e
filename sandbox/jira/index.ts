/**
 * The Jira sandbox's public surface, for tests, benches and the demo: start it, seed it, act as
 * people, receive its signed webhooks, and check its responses against Atlassian's OpenAPI documents.
 */
export { startJiraSandbox } from './jira-sandbox.ts';
export type { JiraSandbox, JiraSandboxOptions, SandboxActor, SandboxCall, ResponseExchange, InjectedFault, FaultFilter, RateLimitReason } from './jira-sandbox.ts';
export { exampleSeed, PEOPLE, STATUSES } from './example-seed.ts';
export { loadJiraContracts, JIRA_GLOBAL_STATUSES } from './jira-contracts.ts';
export { signWebhookBody, MAX_WEBHOOK_RETRIES, RETRY_STATUSES } from './webhook-sender.ts';
export type { WebhookDelivery, WebhookRegistration } from './webhook-sender.ts';
export { JIRA_TEXT_LIMIT, NOT_ADF_MESSAGE, TOO_LONG_MESSAGE, adfFromText, adfToText, adfProblem, adfStoredLength } from './adf.ts';
export { JiraApiError, JiraSandboxState, CUSTOM_FIELD_TYPE_PREFIX, APPROVALS_FIELD_TYPE } from './state.ts';
export type { SandboxSeed, SandboxIssue, SandboxUser, StateEvent, SandboxApprovalSeed, SandboxValidator } from './state.ts';
