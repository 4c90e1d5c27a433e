import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ConflictError } from '../../src/engine/errors.ts';
import type { Approval, Clock, PolicyDecision } from '../../src/engine/model.ts';
import {
  ApprovalDesk,
  StaticDirectory,
  approvalStatus,
  evaluateApproval,
  evaluatePolicy,
  loadPolicy,
  type ApprovalAuditRecord,
  type ApprovalStorePort,
  type ApprovalSubject,
  type Policy,
} from '../../src/policy/index.ts';

const EXAMPLE = fileURLToPath(new URL('../../examples/policy.yaml', import.meta.url));
const NOW = new Date('2026-11-24T19:40:00Z');
const HOUR = 3600_000;
const later = (h: number): Date => new Date(NOW.getTime() + h * HOUR);
const PLAN = '3f2a9c1e5b7d4a60aa11223344556677';
const PLAN2 = '9e8d7c6b5a4f3e2d1c0b0a0908070605';

const directory = new StaticDirectory([
  { id: 'pat', displayName: 'Pat', active: true, groups: ['product-managers', 'release-managers'] },
  { id: 'rita', displayName: 'Rita', active: true, groups: ['release-managers'] },
  { id: 'ron', displayName: 'Ron', active: true, groups: ['release-managers'] },
  { id: 'paul', displayName: 'Paul', active: true, groups: ['platform-approvers'] },
  { id: 'ines', displayName: 'Ines', active: false, groups: ['release-managers'] },
  { id: 'sam', displayName: 'Sam', active: true, groups: ['marketing'] },
]);
const production = { name: 'production', labels: { production: true } };
const staging = { name: 'staging', labels: { production: false } };

async function promotion(policy: Policy, over: { emergency?: boolean; destructive?: boolean } = {}): Promise<ApprovalSubject> {
  const decisions = await evaluatePolicy(
    policy,
    {
      kind: 'promote',
      actor: { id: 'pat', displayName: 'Pat' },
      environment: production,
      bundle: 'checkout-api',
      version: '2.14.0',
      params: { replicas: 4, log_level: 'warn' },
      attestations: [{ kind: 'qa-signed', by: 'alice', at: '2026-11-22T10:00:00Z' }],
      plan: { destructive: over.destructive ?? false },
      emergency: over.emergency,
    },
    { directory, clock: { now: () => NOW } },
  );
  return { id: 'req-1', actor: { id: 'pat', displayName: 'Pat' }, environment: production, plan: { hash: PLAN, revision: 1 }, decisions, approvals: [] };
}

function attempt(policy: Policy, request: ApprovalSubject, approver: string, planHash = PLAN, now = NOW) {
  return evaluateApproval({ policy, request, approver: { id: approver }, planHash, surface: 'jira', now, directory });
}

test('an approval from a release manager on the current plan counts, bound to the plan and expiring after the ttl', async () => {
  const policy = await loadPolicy({ path: EXAMPLE });
  const req = await promotion(policy);
  const r = await attempt(policy, req, 'rita');
  assert.equal(r.counted, true);
  if (!r.counted) return;
  assert.deepEqual(r.approval, {
    by: { id: 'rita', displayName: 'Rita' },
    surface: 'jira',
    planHash: PLAN,
    at: NOW.toISOString(),
    expiresAt: later(48).toISOString(), // production's approvals.ttl
    groups: ['release-managers'],
  });
  assert.equal(r.message, 'Approved by Rita (release-managers) for plan 3f2a9c1. Valid for 48h.');
  const status = approvalStatus(policy, { ...req, approvals: [r.approval] }, NOW);
  assert.equal(status.satisfied, true);
  assert.equal(status.summary, 'Approvals complete: Rita (release-managers).');
  assert.deepEqual(status.missing, []);
});

test('separation of duties: the requester cannot approve, even when in the approver group', async () => {
  const policy = await loadPolicy({ path: EXAMPLE });
  const r = await attempt(policy, await promotion(policy), 'pat');
  assert.deepEqual(r, {
    counted: false,
    reason: 'the requester cannot approve their own request',
    message: 'Approval by Pat not counted: the requester cannot approve their own request.',
  });
});

test('a user the directory cannot find is refused, not assumed', async () => {
  const policy = await loadPolicy({ path: EXAMPLE });
  const r = await attempt(policy, await promotion(policy), 'mallory');
  assert.equal(r.counted, false);
  assert.equal(r.message, 'Approval by mallory not counted: the directory does not know this user, so the approval cannot be checked.');
});

test('an inactive approver is refused', async () => {
  const policy = await loadPolicy({ path: EXAMPLE });
  const r = await attempt(policy, await promotion(policy), 'ines');
  assert.equal(r.counted, false);
  assert.equal(r.message, 'Approval by Ines not counted: Ines is not an active user.');
});

test('someone outside the approver groups is refused, naming the groups', async () => {
  const policy = await loadPolicy({ path: EXAMPLE });
  const r = await attempt(policy, await promotion(policy), 'sam');
  assert.equal(r.counted, false);
  assert.equal(r.message, 'Approval by Sam not counted: not in release-managers or platform-approvers.');
});

test('an approval for a superseded plan is refused and a changed plan voids earlier approvals', async () => {
  const policy = await loadPolicy({ path: EXAMPLE });
  const req = await promotion(policy);
  const first = await attempt(policy, req, 'rita');
  assert.ok(first.counted);
  // The person edits the request: revision 2, a new plan hash.
  const revised: ApprovalSubject = { ...req, plan: { hash: PLAN2, revision: 2 }, approvals: [first.approval] };
  const stale = await evaluateApproval({ policy, request: revised, approver: { id: 'ron' }, planHash: PLAN, seenRevision: 1, surface: 'servicenow', now: NOW, directory });
  assert.equal(stale.counted, false);
  assert.equal(stale.message, 'Approval not counted: the plan changed (revision 2 replaces revision 1). Approve the new plan.');
  const status = approvalStatus(policy, revised, NOW);
  assert.equal(status.satisfied, false);
  assert.deepEqual(status.notCounted.map((n) => [n.approval.by.id, n.reason]), [['rita', 'given for a plan that has since changed']]);
  assert.equal(status.summary, 'Waiting for approval: needs 1 approval from release-managers or platform-approvers (not the requester).');
  const fresh = await attempt(policy, revised, 'rita', PLAN2);
  assert.equal(fresh.counted, true, 'the same person may approve the new plan');
  const noPlan = await attempt(policy, { ...req, plan: undefined }, 'rita');
  assert.equal(noPlan.counted ? '' : noPlan.reason, 'there is no plan to approve yet');
});

test('approvals expire after the configured time (production 48h, staging the file default 72h)', async () => {
  const policy = await loadPolicy({ path: EXAMPLE });
  const req = await promotion(policy);
  const r = await attempt(policy, req, 'rita');
  assert.ok(r.counted);
  const withApproval = { ...req, approvals: [r.approval] };
  assert.equal(approvalStatus(policy, withApproval, later(47.9)).satisfied, true);
  const expired = approvalStatus(policy, withApproval, later(48));
  assert.equal(expired.satisfied, false);
  assert.deepEqual(expired.notCounted.map((n) => n.reason), [`expired ${later(48).toISOString()}`]);
  // An expired approval does not block approving again.
  assert.equal((await attempt(policy, withApproval, 'rita', PLAN, later(49))).counted, true);

  // Staging: approvals recorded without expiresAt use the environment's ttl.
  const stagingReq: ApprovalSubject = {
    actor: { id: 'dana' },
    environment: staging,
    plan: { hash: PLAN },
    decisions: [{ rule: 'approvals', outcome: 'needs_approval', reason: 'x', approvers: { groups: ['platform-approvers'], count: 1 } }],
    approvals: [{ by: { id: 'paul' }, surface: 'http', planHash: PLAN, at: NOW.toISOString(), groups: ['platform-approvers'] }],
  };
  assert.equal(approvalStatus(policy, stagingReq, later(71)).satisfied, true);
  assert.equal(approvalStatus(policy, stagingReq, later(72)).satisfied, false);
});

test('one person counts once, even when they approve twice or through two surfaces', async () => {
  const policy = await loadPolicy({ path: EXAMPLE });
  const base = await promotion(policy);
  const two: PolicyDecision[] = base.decisions.map((d) => (d.rule === 'approvals' ? { ...d, approvers: { groups: ['release-managers'], count: 2 } } : d));
  const req: ApprovalSubject = { ...base, decisions: two };
  const r1 = await attempt(policy, req, 'rita');
  assert.ok(r1.counted);
  const again = await attempt(policy, { ...req, approvals: [r1.approval] }, 'rita');
  assert.equal(again.counted, false);
  assert.equal(again.message, 'Approval by Rita not counted: Rita already approved this plan; one person counts once.');

  // Two records by the same person (say Jira and the CLI raced): still one.
  const dup: Approval = { ...r1.approval, surface: 'cli', at: later(0.1).toISOString() };
  const status = approvalStatus(policy, { ...req, approvals: [r1.approval, dup] }, later(0.2));
  assert.equal(status.satisfied, false);
  assert.equal(status.valid.length, 1);
  assert.deepEqual(status.notCounted.map((n) => n.reason), ['the same person already counts once']);
  assert.deepEqual(status.missing, ['needs 1 more approval from release-managers (not the requester)']);

  const r2 = await attempt(policy, { ...req, approvals: [r1.approval] }, 'ron');
  assert.ok(r2.counted);
  assert.equal(approvalStatus(policy, { ...req, approvals: [r1.approval, dup, r2.approval] }, later(0.2)).satisfied, true);
});

test('an emergency needs one more distinct person from the extra group, whatever the order of approvals', async () => {
  const policy = await loadPolicy({ path: EXAMPLE });
  const req = await promotion(policy, { emergency: true }); // 20:40 Berlin: outside the window
  assert.ok(req.decisions.some((d) => d.rule === 'emergency' && d.outcome === 'needs_approval'));
  const paul = await attempt(policy, req, 'paul');
  assert.ok(paul.counted);
  // Paul (platform-approvers) could fill either requirement; alone he fills only one.
  const onlyPaul = approvalStatus(policy, { ...req, approvals: [paul.approval] }, NOW);
  assert.equal(onlyPaul.satisfied, false);
  assert.equal(onlyPaul.missing.length, 1);
  // Rita can only fill the base requirement; the matching moves Paul to the emergency one.
  const rita = await attempt(policy, { ...req, approvals: [paul.approval] }, 'rita');
  assert.ok(rita.counted);
  const both = approvalStatus(policy, { ...req, approvals: [paul.approval, rita.approval] }, NOW);
  assert.equal(both.satisfied, true);
  assert.deepEqual(
    both.requirements.map((r) => [r.rule, r.approvedBy.map((a) => a.id)]),
    [
      ['approvals', ['rita']],
      ['emergency', ['paul']],
    ],
  );
  // Two release managers do not satisfy the platform-approvers emergency approval.
  const ron = await attempt(policy, req, 'ron');
  assert.ok(ron.counted);
  const rm = approvalStatus(policy, { ...req, approvals: [rita.approval, ron.approval] }, NOW);
  assert.equal(rm.satisfied, false);
  assert.deepEqual(rm.missing, ['needs 1 approval from platform-approvers (not the requester)']);
});

test('a request policy denied cannot be approved; one that needs none says so', async () => {
  const policy = await loadPolicy({ path: EXAMPLE });
  const req = await promotion(policy);
  const denied = { ...req, decisions: [...req.decisions, { rule: 'x', outcome: 'deny' as const, reason: 'no' }] };
  const r = await attempt(policy, denied, 'rita');
  assert.equal(r.counted ? '' : r.reason, 'policy denied this request; an approval cannot override a denial');
  const free = { ...req, decisions: req.decisions.filter((d) => d.outcome !== 'needs_approval') };
  const n = await attempt(policy, free, 'rita');
  assert.equal(n.counted ? '' : n.reason, 'this request needs no approval');
  assert.equal(approvalStatus(policy, free, NOW).summary, 'No approval needed.');
});

// ------------------------------------------------------------------------------------------------
// The one approval call every surface makes

/** The request record as a store port sees it: a revision that grows per write. */
class MemoryApprovalStore implements ApprovalStorePort {
  revision = 1;
  conflictsToRaise = 0;
  constructor(public subject: ApprovalSubject) {}
  async load(): Promise<{ subject: ApprovalSubject; revision: number }> {
    return { subject: structuredClone(this.subject), revision: this.revision };
  }
  async addApproval(id: string, approval: Approval, expected: number): Promise<void> {
    if (this.conflictsToRaise > 0) {
      this.conflictsToRaise--;
      this.revision++; // someone else wrote meanwhile
      throw new ConflictError('request', id, expected, this.revision);
    }
    if (expected !== this.revision) throw new ConflictError('request', id, expected, this.revision);
    this.subject = { ...this.subject, approvals: [...this.subject.approvals, approval] };
    this.revision++;
  }
}

test('ApprovalDesk stores counted approvals, audits every attempt with its surface, and re-reads after a conflict', async () => {
  const policy = await loadPolicy({ path: EXAMPLE });
  const store = new MemoryApprovalStore(await promotion(policy));
  const audit: ApprovalAuditRecord[] = [];
  const clock: Clock = { now: () => NOW };
  const desk = new ApprovalDesk({ policy, directory, clock, store, audit: { append: async (r) => void audit.push(r) } });

  const refused = await desk.approve({ requestId: 'req-1', approver: { id: 'pat' }, planHash: PLAN, surface: 'jira' });
  assert.equal(refused.result.counted, false);
  assert.equal(store.subject.approvals.length, 0);

  store.conflictsToRaise = 1;
  const ok = await desk.approve({ requestId: 'req-1', approver: { id: 'rita' }, planHash: PLAN, surface: 'cli' });
  assert.equal(ok.result.counted, true);
  assert.equal(ok.status.satisfied, true);
  assert.equal(store.subject.approvals.length, 1);
  assert.equal(store.subject.approvals[0].surface, 'cli');

  assert.deepEqual(audit, [
    {
      actor: 'pat',
      surface: 'jira',
      action: 'request.approval_refused',
      subject: { type: 'request', id: 'req-1' },
      request: 'req-1',
      after: { planHash: PLAN, counted: false, reason: 'the requester cannot approve their own request' },
    },
    {
      actor: 'rita',
      surface: 'cli',
      action: 'request.approve',
      subject: { type: 'request', id: 'req-1' },
      request: 'req-1',
      after: { planHash: PLAN, counted: true, groups: ['release-managers'], expiresAt: later(48).toISOString() },
    },
  ]);

  // The same person through another surface: refused, audited, stored once.
  const twice = await desk.approve({ requestId: 'req-1', approver: { id: 'rita' }, planHash: PLAN, surface: 'servicenow' });
  assert.equal(twice.result.counted, false);
  assert.equal(store.subject.approvals.length, 1);
  assert.equal(audit.at(-1)?.surface, 'servicenow');
});
