/**
 * The service against a Jira site set up the way real ones are: a JSM project whose approval
 * needs two approvers (answered through the service desk API, each answer checked by the
 * workflow like any approval), transitions into done statuses through screens that require a
 * resolution, and a workflow validator that refuses a transition (said in the ticket, logged at
 * warn). Every sandbox answer matches Atlassian's OpenAPI documents.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/engine/logger.ts';
import type { Request } from '../../src/engine/model.ts';
import { startStoryWorld, shiftedClock, type StoryWorld } from '../../src/demo/story.ts';
import { syncStoryForms, conversation, waitFor, fileDatabaseRequest } from '../../src/demo/story-steps.ts';
import { JiraClient } from '../../src/surfaces/jira/client.ts';
import { PEOPLE, STATUSES } from '../../sandbox/jira/index.ts';

const ctx = { actor: 'platform-admin', surface: 'cli' as const };
const CY = '712020:approver-cy';
const TOKENS: Record<string, string> = { [PEOPLE.approver]: 'ari-token', [PEOPLE.secondApprover]: 'bo-token', [CY]: 'cy-token' };
let world: StoryWorld;
let dir: string;
const logLines: string[] = [];

before(async () => {
  // Staging needs two approvals from platform-approvers here (the example policy asks one).
  dir = mkdtempSync(join(tmpdir(), 'jira-site-'));
  const policy = readFileSync('examples/policy.yaml', 'utf8').replace(
    '    approvals: { groups: [platform-approvers], count: 1 }\n    windows:',
    '    approvals: { groups: [platform-approvers], count: 2 }\n    windows:',
  );
  assert.match(policy, /count: 2/);
  writeFileSync(join(dir, 'policy.yaml'), policy);
  const sink = new Writable({ write: (chunk, _enc, cb) => (logLines.push(String(chunk)), cb()) });
  // Tuesday 10:00 in Berlin: the staging window is open.
  world = await startStoryWorld({
    logger: createLogger('warn', sink),
    clock: shiftedClock(new Date('2026-11-24T09:00:00Z')),
    webhookRetryDelaysMs: [50, 100],
    policyFile: join(dir, 'policy.yaml'),
  });
  const { engine } = world.runtime.opened;
  await engine.createProject({ id: 'checkout', name: 'Checkout' }, ctx);
  await engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ctx);
  await engine.attest('postgres-database', '1.4.0', 'qa-signed', 'quinn', ctx);
  // Three approvers who answer through the service desk API with their own API tokens.
  world.sandbox.seed({
    users: [
      { accountId: PEOPLE.approver, displayName: 'Ari Approver', email: 'ari@example.com', groups: ['platform-approvers', 'developers'], apiToken: TOKENS[PEOPLE.approver] },
      { accountId: PEOPLE.secondApprover, displayName: 'Bo Approver', email: 'bo@example.com', groups: ['platform-approvers'], apiToken: TOKENS[PEOPLE.secondApprover] },
      { accountId: CY, displayName: 'Cy Approver', email: 'cy@example.com', groups: ['platform-approvers'], apiToken: TOKENS[CY] },
    ],
  });
  // The OPS approval step: two approvals, and (as a user-field approver list allows) the reporter may answer.
  world.sandbox.state.setApproval('OPS', {
    name: 'Platform approval',
    status: STATUSES.awaitingApproval,
    approverGroup: 'platform-approvers',
    approved: STATUSES.approved,
    declined: STATUSES.rejected,
    required: 2,
    excludeReporter: false,
  });
  await syncStoryForms(world);
});
after(async () => {
  await world?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A person's own Jira client: they answer approvals as themselves. */
function clientOf(accountId: string): JiraClient {
  const email = world.sandbox.state.user(accountId).emailAddress!;
  return new JiraClient({ baseUrl: world.sandbox.url, email, apiToken: TOKENS[accountId]!, logger: createLogger('silent') });
}

async function latestRequest(key: string): Promise<Request> {
  const all = await world.runtime.opened.engine.requests.forOrigin('jira', key);
  return all.sort((a, b) => a.createdAt.localeCompare(b.createdAt)).pop()!;
}

const status = async (key: string) => (await world.runtime.jira!['deps'].client.getStatus(key)) as string;
const pendingApproval = (key: string) => world.sandbox.state.issue(key).approvals.find((a) => a.finalDecision === 'pending');

test('JSM: a request two people approve is applied; the requester’s own approval is not counted', { timeout: 120_000 }, async () => {
  const sb = world.sandbox;
  // Ari, an approver herself, files the request: JSM lists her among the approvers.
  const key = await fileDatabaseRequest(world, PEOPLE.approver, { project: 'OPS', package: 'two-db', database: 'two_db', username: 'two_app', size: 20 });
  await waitFor(() => conversation(sb, key).find((c) => c.status && /AWAITING APPROVAL/.test(c.text) && /Approvals panel/.test(c.text)), 'the plan, saying how to approve in JSM');
  const first = await waitFor(() => {
    const a = pendingApproval(key);
    return a && sb.state.issue(key).properties.has(`ticket-surface.jsm-approval.${a.id}`) ? a : undefined;
  }, 'the JSM approval, bound to the plan');
  assert.ok(first.approvers.some((x) => x.accountId === PEOPLE.approver), 'the requester is among the JSM approvers');

  // The requester approves her own request in JSM: JSM takes it, the service does not count it.
  await clientOf(PEOPLE.approver).answerApproval(key, first.id, 'approve');
  await waitFor(() => conversation(sb, key).find((c) => /Approval by Ari Approver not counted: the requester cannot approve/.test(c.text)), 'the refusal');
  assert.equal((await latestRequest(key)).approvals.length, 0);

  // Bo approves: JSM's rule (two answers) is met and it moves the issue, but the policy has one
  // of two approvals, so the issue goes back to waiting and JSM opens a new approval.
  await clientOf(PEOPLE.secondApprover).answerApproval(key, first.id, 'approve');
  await waitFor(() => conversation(sb, key).find((c) => /Approved by Bo Approver/.test(c.text)), 'Bo counted');
  const second = await waitFor(async () => {
    const a = pendingApproval(key);
    return a && a.id !== first.id && (await status(key)) === STATUSES.awaitingApproval && sb.state.issue(key).properties.has(`ticket-surface.jsm-approval.${a.id}`) ? a : undefined;
  }, 'a new JSM approval after the issue went back to waiting');
  assert.equal((await latestRequest(key)).state, 'awaiting_approval');

  // Cy approves the new one: two valid approvals, the request is applied.
  await clientOf(CY).answerApproval(key, second.id, 'approve');
  await waitFor(() => conversation(sb, key).find((c) => c.status && /APPLIED/.test(c.text)), 'applied', 60_000);
  const applied = await latestRequest(key);
  assert.equal(applied.state, 'applied');
  assert.deepEqual(applied.approvals.map((a) => a.by.id).sort(), [PEOPLE.secondApprover, CY].sort());
  assert.ok(applied.approvals.every((a) => a.surface === 'jira' && a.planHash === applied.plan!.hash));
  // Into Done through a screen that requires a resolution: sent with the transition.
  await waitFor(async () => ((await status(key)) === STATUSES.done ? true : undefined), 'issue done');
  assert.equal(sb.state.resolutions.get(sb.state.issue(key).resolutionId!)?.name, 'Done');
  assert.equal(conversation(sb, key).filter((c) => /not counted/.test(c.text)).length, 1, 'one refusal, said once');
  assert.deepEqual(sb.violations(), []);
});

test('a transition a workflow validator refuses is said once in the ticket and logged at warn', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  sb.state.setTransitionRules('ticket-surface request', 'Answer', { validators: [{ field: 'assignee', message: 'An assignee is required to resolve a question.' }] });
  try {
    const issue = sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure question', summary: 'most-expensive --top 3' });
    const said = await waitFor(() => conversation(sb, issue.key).find((c) => /Could not move this issue to "Done"/.test(c.text)), 'the refused transition, in the ticket');
    assert.match(said.text, /Jira refused the transition "Answer" \(An assignee is required to resolve a question\.\)/);
    assert.ok(conversation(sb, issue.key).some((c) => /Most expensive stacks/.test(c.text)), 'the question was answered all the same');
    assert.equal(await status(issue.key), STATUSES.open, 'the issue stayed where it was');
    const warned = logLines.map((l) => JSON.parse(l) as { level: number; msg: string; problem?: string }).find((l) => l.msg === 'Jira refused the transition');
    assert.ok(warned, 'logged');
    assert.equal(warned.level, 40, 'at warn');
    assert.match(warned.problem ?? '', /An assignee is required/);
    assert.equal(conversation(sb, issue.key).filter((c) => /Could not move/.test(c.text)).length, 1);
  } finally {
    sb.state.setTransitionRules('ticket-surface request', 'Answer', { validators: [] });
  }
  assert.deepEqual(sb.violations(), []);
});
