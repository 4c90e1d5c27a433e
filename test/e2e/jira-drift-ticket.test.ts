/**
 * Drift filed as a new Jira issue, when policy says so for the environment (`ticket: new`):
 * a hand change found by `/drift check` on the ticket that created the database is written to
 * a new issue of the configured drift issue type, created once per drift episode (found again
 * by its label even when the service forgot it), and `/drift adopt` and `/drift revert`
 * commented on that issue decide as on the original ticket (the revert is approved there).
 * A package filed from the CLI, which has no ticket, gets its drift issue in Jira all the same.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { StoryWorld } from '../../src/demo/story.ts';
import { conversation, waitFor, fileDatabaseRequest } from '../../src/demo/story-steps.ts';
import { exampleSeed, PEOPLE, STATUSES } from '../../sandbox/jira/index.ts';
import { startStagingStory, storyPsql } from '../helpers/jira-staging.ts';

const DRIFT_TYPE = 'Infrastructure drift';
let world: StoryWorld;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'drift-ticket-'));
  const policy = `${readFileSync('examples/policy.yaml', 'utf8')}\ndrift:\n  environments:\n    - match: { names: [staging] }\n      default: ask\n      ticket: new\n`;
  writeFileSync(join(dir, 'policy.yaml'), policy);
  const config = readFileSync('examples/jira-config.yaml', 'utf8').replace('      Infrastructure question: { kind: question }\n', `      Infrastructure question: { kind: question }\n      ${DRIFT_TYPE}: { kind: drift }\n`);
  assert.match(config, /kind: drift/);
  writeFileSync(join(dir, 'jira-config.yaml'), config);
  const seed = exampleSeed();
  seed.issueTypes = [...(seed.issueTypes ?? []), { name: DRIFT_TYPE, description: 'Reality changed outside ticket-surface.' }];
  seed.projects = seed.projects!.map((p) => (p.key === 'INFRA' ? { ...p, issueTypes: [...p.issueTypes, DRIFT_TYPE] } : p));
  world = await startStagingStory({ policyFile: join(dir, 'policy.yaml'), jiraConfigFile: join(dir, 'jira-config.yaml'), jiraSeed: seed });
});
after(async () => {
  await world?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const psql = (sql: string): Promise<string> => storyPsql(world, sql);
const DRIFT_HEAD = /ticket-surface · drift · checkout-staging-ticket-db/;

/** Keys of the drift issues in the sandbox. */
function driftIssues(): string[] {
  const type = world.sandbox.state.issueTypeByName(DRIFT_TYPE)!;
  return [...world.sandbox.state.issues.values()].filter((i) => i.issueTypeId === type.id).map((i) => i.key);
}

test('drift goes to one new issue per episode in the configured project, which takes /drift decisions', { timeout: 300_000 }, async () => {
  const sb = world.sandbox;
  const key = await fileDatabaseRequest(world, PEOPLE.developer, { package: 'ticket-db', database: 'ticket_orders', username: 'ticket_app', size: 50 });
  await waitFor(() => conversation(sb, key).find((c) => c.status && /AWAITING APPROVAL/.test(c.text)), 'the plan comment');
  await waitFor(async () => ((await world.runtime.jira!['deps'].client.getStatus(key)) === STATUSES.awaitingApproval ? true : undefined), 'awaiting approval status');
  sb.as(PEOPLE.approver).transition(key, STATUSES.approved);
  await waitFor(() => conversation(sb, key).find((c) => c.status && /APPLIED/.test(c.text)), 'applied', 90_000);

  await psql('ALTER ROLE ticket_app CONNECTION LIMIT 400;');
  sb.as(PEOPLE.developer).comment(key, '/drift check');
  const issue = await waitFor(() => driftIssues()[0], 'the drift issue', 60_000);
  const filed = sb.state.issue(issue);
  assert.equal(filed.summary, 'Drift on checkout-staging-ticket-db');
  assert.equal(issue.split('-')[0], 'INFRA');
  await waitFor(() => conversation(sb, issue).find((c) => DRIFT_HEAD.test(c.text) && /400/.test(c.text)), 'the drift comment on the drift issue', 60_000);
  assert.ok(!conversation(sb, key).some((c) => DRIFT_HEAD.test(c.text)), 'the original ticket gets no drift comment');

  // The same episode, seen changed again, after the service forgot which issue it filed: found by its label, not filed twice.
  const ids = world.runtime.ids;
  const remembered = Object.keys(await ids.all('jira')).filter((k) => k.startsWith('drift-episode:'));
  assert.equal(remembered.length, 1);
  const redis = new Redis(world.redis.url);
  await redis.hdel('ts:surface-ids:jira:by-key', remembered[0]!);
  redis.disconnect();
  await psql('ALTER ROLE ticket_app CONNECTION LIMIT 450;');
  const comment = JSON.parse(await psql("select shobj_description(oid, 'pg_database') from pg_database where datname = 'ticket_orders'")) as Record<string, unknown>;
  await psql(`COMMENT ON DATABASE ticket_orders IS '${JSON.stringify({ ...comment, owner_team: 'payments' })}';`);
  sb.as(PEOPLE.developer).comment(key, '/drift check');
  await waitFor(() => conversation(sb, issue).find((c) => DRIFT_HEAD.test(c.text) && /450/.test(c.text) && /payments/.test(c.text)), 'the drift comment edited in place', 60_000);
  assert.deepEqual(driftIssues(), [issue], 'one issue per drift episode');
  assert.equal(conversation(sb, issue).filter((c) => DRIFT_HEAD.test(c.text)).length, 1, 'one drift comment, edited in place');

  // Decided on the drift issue, by the database's requester.
  sb.as(PEOPLE.developer).comment(issue, '/drift adopt connection_limit');
  await waitFor(() => conversation(sb, issue).find((c) => DRIFT_HEAD.test(c.text) && /Adopted by/.test(c.text)), 'the adoption on the drift issue', 60_000);
  const pkg = await world.runtime.opened.engine.inventory.get('package', 'checkout-staging-ticket-db');
  assert.equal(pkg.desiredParams.connection_limit, 450);
  assert.equal(await psql("select rolconnlimit from pg_roles where rolname = 'ticket_app'"), '450', 'adopt leaves reality alone');
  const audit = await world.runtime.opened.engine.inventory.history('package', pkg.id);
  assert.ok(audit.some((e) => e.action === 'package.drift.adopt' && e.surface === 'reality'), 'the adoption is audited as from reality');

  // A revert decided on the drift issue is a normal request there: plan, approval on that issue, apply.
  sb.as(PEOPLE.developer).comment(issue, '/drift revert owner_team');
  await waitFor(() => conversation(sb, issue).find((c) => c.status && /AWAITING APPROVAL/.test(c.text)), 'the revert plan on the drift issue', 60_000);
  await waitFor(async () => ((await world.runtime.jira!['deps'].client.getStatus(issue)) === STATUSES.awaitingApproval ? true : undefined), 'the drift issue awaiting approval');
  sb.as(PEOPLE.approver).transition(issue, STATUSES.approved);
  await waitFor(() => conversation(sb, issue).find((c) => c.status && /APPLIED/.test(c.text)), 'the revert applied', 90_000);
  const restored = JSON.parse(await psql("select shobj_description(oid, 'pg_database') from pg_database where datname = 'ticket_orders'")) as Record<string, unknown>;
  assert.equal(restored.owner_team, 'checkout', 'the revert restored reality');
  const revert = (await world.runtime.opened.engine.requests.forOrigin('jira', issue))[0]!;
  assert.equal(revert.kind, 'update');
  assert.deepEqual(driftIssues(), [issue]);
  assert.deepEqual(sb.violations(), []);
});

test('drift of a package no ticket made (filed from the CLI) is filed as a new Jira issue too, and decided there', { timeout: 240_000 }, async () => {
  const sb = world.sandbox;
  const { workflow, opened } = world.runtime;
  const answers = { request_environment: 'staging', request_package: 'cli-db', database_name: 'cli_orders', username: 'cli_app', expected_size_gib: 20, production_critical: false, owner_team: 'checkout' };
  const filed = await workflow.submit({ kind: 'provision', actor: { id: 'dana', displayName: 'Dana Developer' }, origin: { surface: 'cli', ref: 'cli-drift-1' }, project: 'checkout', bundle: 'postgres-database', answers });
  await waitFor(async () => ((await opened.engine.requests.get(filed.id)).state === 'awaiting_approval' ? true : undefined), 'the CLI request awaiting approval', 60_000);
  await workflow.approve({ requestId: filed.id, approver: { id: 'bo' }, surface: 'cli' });
  await waitFor(async () => ((await opened.engine.requests.get(filed.id)).state === 'applied' ? true : undefined), 'the CLI request applied', 90_000);
  const before = driftIssues();

  await psql('ALTER ROLE cli_app CONNECTION LIMIT 70;');
  await world.runtime.drift.check('checkout-staging-cli-db', { actor: { id: 'dana', displayName: 'Dana Developer' }, surface: 'cli' });
  const issue = await waitFor(() => driftIssues().find((k) => !before.includes(k)), 'the drift issue of the CLI package', 60_000);
  assert.equal(sb.state.issue(issue).summary, 'Drift on checkout-staging-cli-db');
  await waitFor(() => conversation(sb, issue).find((c) => /ticket-surface · drift · checkout-staging-cli-db/.test(c.text) && /70/.test(c.text)), 'the drift comment', 60_000);

  sb.as(PEOPLE.developer).comment(issue, '/drift adopt connection_limit');
  await waitFor(() => conversation(sb, issue).find((c) => /Adopted by/.test(c.text)), 'the adoption on the drift issue', 60_000);
  assert.equal((await opened.engine.inventory.get('package', 'checkout-staging-cli-db')).desiredParams.connection_limit, 70);
  assert.deepEqual(sb.violations(), []);
});
