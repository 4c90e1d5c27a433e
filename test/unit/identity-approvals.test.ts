import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Actor, Approval, PolicyDecision } from '../../src/engine/model.ts';
import { approvalStatus, evaluateApproval, parsePolicy, StaticDirectory, type ApprovalSubject } from '../../src/policy/index.ts';

// Separation of duties and "one person counts once" compare the directory person the workflow
// stamped on each actor, not the surface account: Dana files in Jira as one account and acts
// through the API as another, and is still Dana.
const NOW = new Date('2026-11-24T10:00:00Z');
const PLAN = '3f2a9c1e5b7d4a60aa11223344556677';
const policy = parsePolicy(
  `version: 1
environments:
  - name: staging
    requesters: anyone
    approvals: { groups: [platform-approvers], count: 2 }
`,
  'test',
);
const decisions: PolicyDecision[] = [{ rule: 'approvals', outcome: 'needs_approval', reason: '2 approvals', approvers: { groups: ['platform-approvers'], count: 2 } }];
const directory = new StaticDirectory([
  { id: 'dana', displayName: 'Dana Developer', active: true, groups: ['platform-approvers'] },
  { id: 'bo', displayName: 'Bo Approver', active: true, groups: ['platform-approvers'] },
]);

/** Dana's request as filed in Jira: her Jira account, stamped with her person id. */
function filedInJira(approvals: Approval[] = []): ApprovalSubject {
  return { id: 'r1', actor: { id: '712020:dev-dana', displayName: 'Dana Developer', person: 'dana' }, environment: { name: 'staging', labels: {} }, plan: { hash: PLAN }, decisions, approvals };
}

function approveAs(approver: Actor, request: ApprovalSubject) {
  return evaluateApproval({ policy, request, approver, planHash: PLAN, surface: 'http', now: NOW, directory });
}

test('the requester cannot approve through another surface: the person, not the account, is compared', async () => {
  const r = await approveAs({ id: 'dana', person: 'dana' }, filedInJira());
  assert.equal(r.counted, false);
  assert.match(r.message, /the requester cannot approve their own request/);
  // Without the stamp on the request the accounts differ and it would have counted: the stamp is what stops it.
  const unstamped: ApprovalSubject = { ...filedInJira(), actor: { id: '712020:dev-dana', displayName: 'Dana Developer' } };
  assert.equal((await approveAs({ id: 'dana', person: 'dana' }, unstamped)).counted, true);
});

test('one person counts once across surfaces, when approving and when counting', async () => {
  const first = await approveAs({ id: 'bo', person: 'bo' }, filedInJira());
  assert.equal(first.counted, true);
  if (!first.counted) return;
  assert.deepEqual(first.approval.by, { id: 'bo', displayName: 'Bo Approver', person: 'bo' });
  // Bo again, as his Jira account: refused as the same person.
  const again = await evaluateApproval({ policy, request: filedInJira([first.approval]), approver: { id: '712020:approver-bo', person: 'bo' }, planHash: PLAN, surface: 'jira', now: NOW, directory: new StaticDirectory([{ id: '712020:approver-bo', displayName: 'Bo Approver', active: true, groups: ['platform-approvers'] }]) });
  assert.equal(again.counted, false);
  assert.match(again.message, /already approved this plan; one person counts once/);
  // Two stored approvals by one person on two surfaces fill one slot, not two.
  const fromJira: Approval = { ...first.approval, by: { id: '712020:approver-bo', person: 'bo' }, surface: 'jira' };
  const status = approvalStatus(policy, filedInJira([first.approval, fromJira]), NOW);
  assert.equal(status.satisfied, false);
  assert.equal(status.valid.length, 1);
  assert.deepEqual(status.notCounted.map((n) => n.reason), ['the same person already counts once']);
  // And an approval stored under the requester's other account does not count either.
  const self: Approval = { ...first.approval, by: { id: 'dana', person: 'dana' } };
  assert.deepEqual(approvalStatus(policy, filedInJira([self]), NOW).notCounted.map((n) => n.reason), ['the requester cannot approve their own request']);
});
