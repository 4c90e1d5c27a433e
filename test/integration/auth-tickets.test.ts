import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createLogger } from '../../src/engine/logger.ts';
import { startStoryWorld, shiftedClock, type StoryWorld } from '../../src/demo/story.ts';
import { syncStoryForms, conversation, waitFor, fileDatabaseRequest } from '../../src/demo/story-steps.ts';
import { PEOPLE, STATUSES } from '../../sandbox/jira/index.ts';
import type { Request } from '../../src/engine/model.ts';
import { apiAs } from '../helpers/api-tokens.ts';

// One person, one identity, whatever the surface: the Jira sandbox's people are the people of
// examples/directory.yaml (matched by their Jira account ids). Commands written in a ticket are
// honoured only from the people the policy allows, and a refusal is answered in the ticket.
const run = promisify(execFile);
let world: StoryWorld;
const ctx = { actor: 'platform-admin', surface: 'cli' as const };

before(async () => {
  // Tuesday 10:00 in Berlin: the staging window is open, so an approved plan applies at once.
  world = await startStoryWorld({ logger: createLogger('silent'), clock: shiftedClock(new Date('2026-11-24T09:00:00Z')), webhookRetryDelaysMs: [50, 100] });
  const { engine } = world.runtime.opened;
  await engine.createProject({ id: 'checkout', name: 'Checkout' }, ctx);
  await engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ctx);
  await engine.attest('postgres-database', '1.4.0', 'qa-signed', 'quinn', ctx);
  await syncStoryForms(world);
});
after(async () => {
  await world?.close();
});

async function latestRequest(key: string): Promise<Request> {
  const all = await world.runtime.opened.engine.requests.forOrigin('jira', key);
  return all.sort((a, b) => a.createdAt.localeCompare(b.createdAt)).pop()!;
}

async function awaitingApproval(key: string): Promise<Request> {
  await waitFor(() => conversation(world.sandbox, key).find((c) => c.status && /AWAITING APPROVAL/.test(c.text)), 'the plan', 60_000);
  return latestRequest(key);
}

async function psql(sql: string): Promise<string> {
  const { stdout } = await run('psql', ['-X', '-A', '-t', '-c', sql], { env: { ...process.env, ...world.pg.superuserEnv() } });
  return stdout.trim();
}

test('a request filed in Jira cannot be approved by its requester through the API or the CLI; another approver\'s token approves it', { timeout: 120_000 }, async () => {
  const { runtime } = world;
  // Ari is a platform approver, and here the requester: he files from his Jira account.
  const key = await fileDatabaseRequest(world, PEOPLE.approver, { package: 'ari-db', database: 'ari_db', username: 'ari_app', size: 20 });
  const r = await awaitingApproval(key);
  assert.deepEqual([r.actor.id, r.actor.person], [PEOPLE.approver, 'ari'], 'the Jira account is known as the person ari');

  const ariApi = await apiAs(runtime, runtime.url!, 'ari', 'approver');
  const self = await ariApi.post(`/v1/requests/${r.id}/approve`, {});
  assert.equal(self.status, 403);
  assert.equal(self.data.counted, false);
  assert.match(self.data.message, /the requester cannot approve their own request/);
  const cli = await runtime.workflow.approve({ requestId: r.id, approver: { id: 'ari' }, surface: 'cli' });
  assert.equal(cli.counted, false);
  assert.match(cli.message, /the requester cannot approve their own request/);
  assert.deepEqual((await runtime.opened.engine.requests.get(r.id)).approvals, [], 'nothing counted');
  assert.equal(await psql("select count(*) from pg_database where datname = 'ari_db'"), '0');

  const boApi = await apiAs(runtime, runtime.url!, 'bo', 'approver');
  const ok = await boApi.post(`/v1/requests/${r.id}/approve`, {});
  assert.equal(ok.status, 200, JSON.stringify(ok.data));
  assert.equal(ok.data.counted, true);
  await waitFor(async () => ((await latestRequest(key)).state === 'applied' ? true : undefined), 'the apply', 60_000);
  assert.equal(await psql("select count(*) from pg_database where datname = 'ari_db'"), '1');
  const done = await latestRequest(key);
  assert.deepEqual(done.approvals.map((a) => [a.by.id, a.by.person, a.surface]), [['bo', 'bo', 'http']]);

  const audit = (await runtime.opened.engine.listAudit({ request: r.id, limit: 1000 })).filter((e) => e.action.startsWith('request.appro'));
  assert.deepEqual(
    audit.map((e) => [e.action, e.actor, e.surface]),
    [
      ['request.approval_refused', 'ari', 'http'],
      ['request.approval_refused', 'ari', 'cli'],
      ['request.approve', 'bo', 'http'],
    ],
  );
});

test('ticket commands are honoured only from the people the policy allows; a refusal is answered in the ticket and audited', { timeout: 120_000 }, async () => {
  const sb = world.sandbox;
  const key = await fileDatabaseRequest(world, PEOPLE.developer, { package: 'guarded-db', database: 'guarded_db', username: 'guarded_app', size: 20 });
  const r = await awaitingApproval(key);
  const remark = (pattern: RegExp, what: string) => waitFor(() => conversation(sb, key).find((c) => pattern.test(c.text)), what);

  // Pat is neither Dana (the requester) nor a platform approver.
  sb.as(PEOPLE.outsider).comment(key, '/cancel');
  await remark(/\/cancel not done: cancelling request \S+ needs its requester \(Dana Developer\) or the admin role; Pat Product is none of these/, 'the refused /cancel');
  sb.as(PEOPLE.outsider).comment(key, '/plan');
  await remark(/\/plan not done: planning request \S+ again needs its requester \(Dana Developer\), an approver \(platform-approvers\) or the admin role/, 'the refused /plan');
  sb.as(PEOPLE.outsider).transition(key, STATUSES.rejected);
  await remark(/rejecting request \S+ needs an approver \(platform-approvers\) or the admin role; Pat Product is none of these/, 'the refused rejection');
  const still = await latestRequest(key);
  assert.equal(still.id, r.id, 'no new plan');
  assert.equal(still.state, 'awaiting_approval', 'neither cancelled nor rejected');

  const refused = (await world.runtime.opened.engine.listAudit({ request: r.id, limit: 1000 })).filter((e) => e.action === 'authz.refused');
  assert.deepEqual(
    refused.map((e) => [e.actor, e.surface, (e.after as { action: string; person: string }).action, (e.after as { person: string }).person]),
    [
      [PEOPLE.outsider, 'jira', 'request.cancel', 'pat'],
      [PEOPLE.outsider, 'jira', 'request.replan', 'pat'],
      [PEOPLE.outsider, 'jira', 'request.reject', 'pat'],
    ],
  );

  // The requester may.
  sb.as(PEOPLE.developer).comment(key, '/cancel');
  await waitFor(async () => ((await latestRequest(key)).state === 'cancelled' ? true : undefined), 'cancelled by the requester');
});
