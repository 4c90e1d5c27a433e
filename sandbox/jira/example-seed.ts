/**
 * A ready-made sandbox site for tests and the demo: an INFRA software project and an OPS service
 * desk (JSM approvals), the request workflow of TICKET-UX.md, and the people of the stories.
 */
import type { SandboxSeed } from './state.ts';

/** Account ids of the seeded people. */
export const PEOPLE = {
  developer: '712020:dev-dana',
  approver: '712020:approver-ari',
  secondApprover: '712020:approver-bo',
  inactiveApprover: '712020:approver-former',
  outsider: '712020:pm-pat',
} as const;

/** Status names of the request workflow. */
export const STATUSES = {
  open: 'Open',
  planned: 'Planned',
  awaitingApproval: 'Awaiting approval',
  approved: 'Approved',
  done: 'Done',
  needsInfo: 'Needs info',
  rejected: 'Rejected',
  cancelled: 'Cancelled',
} as const;

/** The example site: users, groups, statuses, workflow, INFRA (software) and OPS (JSM). */
export function exampleSeed(): SandboxSeed {
  return {
    users: [
      { accountId: PEOPLE.developer, displayName: 'Dana Developer', email: 'dana@example.com', groups: ['developers'] },
      { accountId: PEOPLE.approver, displayName: 'Ari Approver', email: 'ari@example.com', groups: ['platform-approvers', 'developers'] },
      { accountId: PEOPLE.secondApprover, displayName: 'Bo Approver', email: 'bo@example.com', groups: ['platform-approvers'] },
      { accountId: PEOPLE.inactiveApprover, displayName: 'Former Approver', email: 'former@example.com', groups: ['platform-approvers'], active: false },
      { accountId: PEOPLE.outsider, displayName: 'Pat Product', email: 'pat@example.com', groups: ['product'] },
    ],
    statuses: [
      { name: STATUSES.open, category: 'new' },
      { name: STATUSES.planned, category: 'indeterminate' },
      { name: STATUSES.awaitingApproval, category: 'indeterminate' },
      { name: STATUSES.approved, category: 'indeterminate' },
      { name: STATUSES.done, category: 'done' },
      { name: STATUSES.needsInfo, category: 'new' },
      { name: STATUSES.rejected, category: 'done' },
      { name: STATUSES.cancelled, category: 'done' },
    ],
    issueTypes: [
      { name: 'Infrastructure request', description: 'Ask for infrastructure from a bundle.' },
      { name: 'Infrastructure question', description: 'Ask a question about the inventory.' },
    ],
    workflows: {
      'ticket-surface request': {
        initial: STATUSES.open,
        transitions: [
          { name: 'Plan', from: [STATUSES.open, STATUSES.needsInfo], to: STATUSES.planned },
          { name: 'Needs info', from: [STATUSES.open, STATUSES.planned, STATUSES.awaitingApproval], to: STATUSES.needsInfo },
          { name: 'Request approval', from: [STATUSES.planned, STATUSES.approved], to: STATUSES.awaitingApproval },
          { name: 'Approve', from: [STATUSES.awaitingApproval], to: STATUSES.approved },
          // Into a done status through a screen with the Resolution field, required, as Jira's own workflows do.
          { name: 'Reject', from: [STATUSES.awaitingApproval], to: STATUSES.rejected, resolution: 'required' },
          { name: 'Done', from: [STATUSES.approved], to: STATUSES.done, resolution: 'required' },
          // Questions (the "Infrastructure question" type) are answered and resolved straight away.
          { name: 'Answer', from: [STATUSES.open, STATUSES.needsInfo], to: STATUSES.done, resolution: 'required' },
          { name: 'Reopen', from: [STATUSES.done, STATUSES.rejected, STATUSES.cancelled], to: STATUSES.open },
          { name: 'Cancel', to: STATUSES.cancelled, resolution: 'required' },
        ],
      },
    },
    projects: [
      { key: 'INFRA', name: 'Infrastructure requests', issueTypes: ['Infrastructure request', 'Infrastructure question'], workflow: 'ticket-surface request', lead: PEOPLE.approver },
      {
        key: 'OPS',
        name: 'Ops service desk',
        issueTypes: ['Infrastructure request'],
        workflow: 'ticket-surface request',
        approval: { name: 'Platform approval', status: STATUSES.awaitingApproval, approverGroup: 'platform-approvers', approved: STATUSES.approved, declined: STATUSES.rejected },
        serviceDesk: { requestTypes: [{ name: 'Request infrastructure', issueType: 'Infrastructure request', description: 'Databases, caches, queues.' }] },
      },
    ],
  };
}
