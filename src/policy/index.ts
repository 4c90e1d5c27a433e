/**
 * Policy, approvals and change windows: the public surface of src/policy.
 */
export type * from './types.ts';
export { DEFAULT_APPROVAL_TTL, PolicyLoader, loadPolicy, parsePolicy, policySchema } from './load.ts';
export { matchEnvironment } from './match.ts';
export { DEFAULT_REMINDERS, leasePolicyFor } from './lease.ts';
export { evaluateCondition, readParam, type ConditionResult } from './conditions.ts';
export { DECISION_RULES, approvalNeedText, evaluatePolicy, overallOutcome } from './evaluate.ts';
export {
  approvalRequirements,
  approvalStatus,
  approvalSubjectOf,
  approvalTtlMs,
  evaluateApproval,
  personKey,
  type ApprovalAttempt,
  type ApprovalRequirementStatus,
  type ApprovalResult,
  type ApprovalStatus,
  type ApprovalSubject,
} from './approvals.ts';
export {
  ApprovalDesk,
  type ApprovalAuditPort,
  type ApprovalAuditRecord,
  type ApprovalDeskDeps,
  type ApprovalStorePort,
  type ApproveCommand,
} from './approval-desk.ts';
export {
  ChangeWindowService,
  DEFAULT_HORIZON_DAYS,
  formatInstant,
  formatOpening,
  isInWindow,
  localInstant,
  nextOpening,
  nextWindow,
  recheckSchedule,
  scheduleDecision,
  type RecheckDecision,
  type ScheduleDecision,
  type ScheduleInput,
  type WindowOpening,
  type WindowOptions,
} from './windows.ts';
export { StaticDirectory, loadPeople, peopleOf } from './directory.ts';
export { IDENTITY_KINDS, People, PersonResolver, ROLES, type IdentityKind, type Person, type Role } from './identity.ts';
export { formatDuration, parseDuration } from './duration.ts';
export { driftChoice, driftRulesFor, fieldOwner, normalizeDriftPolicy } from './drift-policy.ts';
