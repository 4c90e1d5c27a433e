/**
 * The freeze switch from a Jira ticket of the admin project (OPS): a non-admin's `/freeze` is
 * refused by the workflow's role check, an admin's `/freeze` written in a request project is
 * refused naming the admin project (both audited), the admin's `/freeze` in OPS holds an
 * approved request, and `/unfreeze` there lets it apply for real. Each command gets one reply.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { StoryWorld } from '../../src/demo/story.ts';
import { conversation, waitFor, fileDatabaseRequest } from '../../src/demo/story-steps.ts';
import { PEOPLE, STATUSES } from '../../sandbox/jira/index.ts';
import type { Request } from '../../src/engine/model.ts';
import { latestJiraRequest, startStagingStory, storyPsql } from '../helpers/jira-staging.ts';

/** Quinn's Jira account, as the directory lists it (Quinn holds the admin role). */
const ADMIN = '712020:admin-quinn';

let world: StoryWorld;

before(async () => {
  world = await startStagingStory();
  world.sandbox.seed({ users: [{ accountId: ADMIN, displayName: 'Quinn Platform', email: 'quinn@example.com', groups: ['platform-team'] }] });
});
after(async () => {
  await world?.close();
});

const latestRequest = (key: string): Promise<Request> => latestJiraRequest(world, key);

/** The comments on `key` that the service wrote (neither person in this story wrote them). */
function replies(key: string): string[] {
  const people = new Set<string>([ADMIN, PEOPLE.developer, PEOPLE.approver]);
  return conversation(world.sandbox, key).filter((c) => !people.has(c.author)).map((c) => c.text);
}

async function refusals(): Promise<string[]> {
  const events = await world.runtime.opened.engine.inventory.audit.list({ limit: 10_000 });
  return events.filter((e) => e.action === 'authz.refused' && (e.after as { action?: string } | undefined)?.action === 'environment.freeze').map((e) => e.reason ?? '');
}

test('/freeze and /unfreeze in an admin-project ticket: refused for a non-admin and outside OPS, then hold and release an approved request', { timeout: 180_000 }, async () => {
  const sb = world.sandbox;
  const { runtime } = world;
  const key = await fileDatabaseRequest(world, PEOPLE.developer, { package: 'held-db', database: 'held_orders', username: 'held_app', size: 20 });
  await waitFor(() => conversation(sb, key).find((c) => c.status && /AWAITING APPROVAL/.test(c.text)), 'the plan');

  const ops = sb.as(ADMIN).createIssue({ project: 'OPS', issueType: 'Infrastructure request', summary: 'Year-end freeze of staging' }).key;

  // A developer is not an admin: the workflow refuses, the ticket says why.
  sb.as(PEOPLE.developer).comment(ops, '/freeze checkout-staging --reason "my own freeze"');
  const notAdmin = await waitFor(() => replies(ops).find((t) => /^✘ \/freeze not done/.test(t)), 'the refusal of a non-admin');
  assert.match(notAdmin, /needs the admin role; Dana Developer holds requester/);
  // The admin writes it in a request project: refused, naming the admin project.
  sb.as(ADMIN).comment(key, '/freeze checkout-staging --reason "Year-end freeze"');
  const elsewhere = await waitFor(() => conversation(sb, key).find((c) => /^✘ \/freeze not done/.test(c.text))?.text, 'the refusal outside OPS');
  assert.match(elsewhere, new RegExp(`only in issues of the admin project OPS, and ${key} is in INFRA`));
  assert.deepEqual(await runtime.freezes.frozen(), [], 'nothing frozen by either');
  const refused = await refusals();
  assert.equal(refused.length, 2, 'both refusals audited');

  // The admin, in OPS: frozen, answered in one comment.
  sb.as(ADMIN).comment(ops, '/freeze checkout-staging --reason "Year-end freeze"');
  const frozen = await waitFor(() => replies(ops).find((t) => t.startsWith('❄')), 'the freeze answered');
  assert.match(frozen, /checkout-staging is frozen by Quinn Platform since .* until it is lifted: "Year-end freeze"/);
  const [freeze] = await runtime.freezes.frozen();
  assert.equal(freeze?.by.person, 'quinn');
  assert.equal(freeze?.by.id, ADMIN);

  sb.as(PEOPLE.approver).transition(key, STATUSES.approved);
  await waitFor(async () => {
    const r = await latestRequest(key);
    return r.state === 'approved' && r.decisions.some((d) => d.rule === 'freeze') ? r : undefined;
  }, 'the request held by the freeze');
  await waitFor(() => conversation(sb, key).find((c) => /frozen by Quinn Platform/.test(c.text) && /Year-end freeze/.test(c.text)), 'the held ticket says why');
  assert.equal(await storyPsql(world, "select count(*) from pg_database where datname = 'held_orders'"), '0', 'nothing applied while frozen');

  sb.as(ADMIN).comment(ops, '/unfreeze checkout-staging');
  const lifted = await waitFor(() => replies(ops).find((t) => t.startsWith('☀')), 'the lift answered');
  assert.match(lifted, /The freeze of checkout-staging \("Year-end freeze"\) is lifted; 1 held request goes ahead/);
  await waitFor(async () => ((await latestRequest(key)).state === 'applied' ? true : undefined), 'applied after the lift', 60_000);
  assert.equal(await storyPsql(world, "select count(*) from pg_database where datname = 'held_orders'"), '1');

  assert.equal(replies(ops).length, 3, 'one reply per command in OPS, and nothing said when the issue was created');
  const actions = (await runtime.opened.engine.inventory.audit.list({ limit: 10_000 })).filter((e) => e.action.startsWith('environment.'));
  assert.deepEqual(actions.filter((e) => e.action !== 'environment.create').map((e) => [e.action, e.actor, e.surface]), [
    ['environment.freeze', ADMIN, 'jira'],
    ['environment.unfreeze', ADMIN, 'jira'],
  ]);
  assert.deepEqual(sb.violations(), []);
});
