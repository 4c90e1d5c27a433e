/**
 * Who may act on a stack from a Jira issue: `/extend` (and `/resume`) need an active person of
 * the directory who is the stack's requester, or an admin; `/stack` needs the requester role.
 * A refusal is answered in the issue naming who lacks what, audited as `authz.refused` under
 * the stack's environment, and changes nothing; the stack's requester extends it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { StoryWorld } from '../../src/demo/story.ts';
import { shiftedClock } from '../../src/demo/story.ts';
import { conversation, waitFor } from '../../src/demo/story-steps.ts';
import { exampleSeed, PEOPLE } from '../../sandbox/jira/index.ts';
import type { Stack } from '../../src/workflow/stack-store.ts';
import { startStagingStory } from '../helpers/jira-staging.ts';

const DAY = 86_400_000;
/** A Jira account the directory does not list (nor its email). */
const STRANGER = '712020:stranger-sam';
const clock = shiftedClock(new Date('2026-11-24T09:00:00Z'));
let world: StoryWorld;

before(async () => {
  const seed = exampleSeed();
  seed.users = [...(seed.users ?? []), { accountId: STRANGER, displayName: 'Sam Stranger', email: 'sam@elsewhere.example', groups: ['developers'] }];
  world = await startStagingStory({ clock, jiraSeed: seed });
});
after(async () => {
  await world?.close();
});

/** A stack Dana requested from issue `key`, up with a lease of two days (at most seven), stored as the desk stores it. */
async function upStack(key: string, name: string): Promise<Stack> {
  const now = clock.now().getTime();
  const at = new Date(now).toISOString();
  const stack: Stack = {
    id: `checkout-${name}`, template: 'preview-checkout', project: 'checkout', name, labels: { preview: true },
    origin: { surface: 'jira', ref: key }, actor: { id: PEOPLE.developer, displayName: 'Dana Developer', email: 'dana@example.com' }, answers: {}, packages: [],
    phase: 'up', costMonthly: 12.5, upAt: at, createdAt: at, updatedAt: at,
    lease: { generation: 1, grantedAt: at, expiresAt: new Date(now + 2 * DAY).toISOString(), maxUntil: new Date(now + 7 * DAY).toISOString(), maxText: '7d', remindBeforeMs: [DAY] },
  };
  return world.runtime.opened.engine.stacks!.put(stack, undefined, 'lease.granted', { actor: 'lease', surface: 'engine' }, 'test stack');
}

/** The `authz.refused` events of environment `id`: account, surface, action, person. */
async function refusals(id: string): Promise<Array<[string, string, string, string | undefined]>> {
  const events = await world.runtime.opened.engine.listAudit({ subject: { type: 'environment', id }, limit: 1000 });
  return events.filter((e) => e.action === 'authz.refused').map((e) => {
    const after = e.after as { action: string; person?: string };
    return [e.actor, e.surface, after.action, after.person];
  });
}

test('/extend is refused to a person not in the directory, an inactive one and another requester; the stack\'s requester extends it', { timeout: 120_000 }, async () => {
  const sb = world.sandbox;
  const key = sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 'Preview environment pr-5' }).key;
  const up = await upStack(key, 'pr-5');
  const remark = (pattern: RegExp, what: string) => waitFor(() => conversation(sb, key).find((c) => pattern.test(c.text)), what);
  const needs = 'extending the lease of stack checkout-pr-5 needs its requester \\(Dana Developer\\) or the admin role';

  sb.as(STRANGER).comment(key, '/extend 1d');
  await remark(new RegExp(`/extend not done: ${needs}; Sam Stranger is not in the directory`), 'the stranger refused');
  sb.as(PEOPLE.inactiveApprover).comment(key, '/extend 1d');
  await remark(/\/extend not done: extending the lease of stack checkout-pr-5 needs an active person; Former Approver is not active in the directory/, 'the inactive person refused');
  // Pat holds the requester role, but this is Dana's stack.
  sb.as(PEOPLE.outsider).comment(key, '/extend 1d');
  await remark(new RegExp(`/extend not done: ${needs}; Pat Product is none of these`), 'another requester refused');
  sb.as(PEOPLE.outsider).comment(key, '/resume');
  await remark(/\/resume not done: resuming stack checkout-pr-5 needs its requester \(Dana Developer\) or the admin role; Pat Product is none of these/, 'another requester\'s /resume refused');

  const still = await world.runtime.opened.engine.stacks!.get('checkout-pr-5');
  assert.deepEqual(still.lease, up.lease, 'the lease is unchanged');
  assert.deepEqual(await refusals('checkout-pr-5'), [
    [STRANGER, 'jira', 'stack.extend', undefined],
    [PEOPLE.inactiveApprover, 'jira', 'stack.extend', 'former'],
    [PEOPLE.outsider, 'jira', 'stack.extend', 'pat'],
    [PEOPLE.outsider, 'jira', 'stack.resume', 'pat'],
  ]);

  sb.as(PEOPLE.developer).comment(key, '/extend 1d');
  const extended = await waitFor(async () => {
    const s = await world.runtime.opened.engine.stacks!.get('checkout-pr-5');
    return s.lease?.generation === 2 ? s : undefined;
  }, 'the extension by the requester');
  assert.equal(Date.parse(extended.lease!.expiresAt) - Date.parse(up.lease!.expiresAt), DAY);
  await remark(/Lease extended by Dana Developer by 1d/, 'the extension in the status');
  const audit = await world.runtime.opened.engine.listAudit({ subject: { type: 'environment', id: 'checkout-pr-5' }, limit: 1000 });
  assert.ok(audit.some((e) => e.action === 'lease.extended' && e.actor === PEOPLE.developer && e.surface === 'jira'));
  assert.deepEqual(sb.violations(), []);
});

test('/stack is refused to a person not in the directory, naming the role it needs; no stack is made', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  const key = sb.as(STRANGER).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 'Preview pr-6', description: '/stack preview-checkout pr-6' }).key;
  await waitFor(() => conversation(sb, key).find((c) => /\/stack not done: requesting stack checkout-pr-6 needs the requester role; Sam Stranger is not in the directory/.test(c.text)), 'the refusal');
  assert.equal(await world.runtime.opened.engine.stacks!.find('checkout-pr-6'), undefined);
  assert.equal(await world.runtime.opened.engine.inventory.find('environment', 'checkout-pr-6'), undefined);
  assert.deepEqual(await refusals('checkout-pr-6'), [[STRANGER, 'jira', 'stack.request', undefined]]);
});
