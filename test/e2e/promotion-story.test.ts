import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/engine/logger.ts';
import { startStoryWorld, type StoryWorld } from '../../src/demo/story.ts';
import { syncStoryForms, conversation, waitFor } from '../../src/demo/story-steps.ts';
import { MovableClock, setupCheckoutStack, jiraFieldOptions, filePromotionRequest, releaseRecord, type CheckoutStack } from '../../src/demo/promotion-steps.ts';
import { JiraClient } from '../../src/surfaces/jira/client.ts';
import { JiraFormsSync } from '../../src/surfaces/jira/forms-sync.ts';
import { EngineOptionSources } from '../../src/workflow/form-options.ts';
import { loadJiraConfig } from '../../src/surfaces/jira/config.ts';
import { jobId } from '../../src/queue/queues.ts';
import { PEOPLE, STATUSES } from '../../sandbox/jira/index.ts';
import type { Request } from '../../src/engine/model.ts';

// Monday 2026-11-23 12:00 in Berlin: the production window (Tue-Thu 10:00-16:00) is closed.
const MONDAY_NOON = new Date('2026-11-23T11:00:00Z');
// Its next opening, Tue 2026-11-24 10:00 Europe/Berlin, and the window's close that day.
const TUESDAY_OPENING = new Date('2026-11-24T09:00:00Z');
const TUESDAY_CLOSE = new Date('2026-11-24T15:00:00Z');
const RELEASE_MANAGER = '712020:rm-rae';

const clock = new MovableClock(MONDAY_NOON);
const ctx = { actor: 'platform-admin', surface: 'cli' as const };
let world: StoryWorld;
let prod: CheckoutStack;
let staging: CheckoutStack;
let resync: () => Promise<unknown>;

before(async () => {
  // Dropdowns are re-synced by hand here (the workers' poll is pushed out of the way), so the
  // test decides when an attestation or a revocation reaches Jira.
  world = await startStoryWorld({ logger: createLogger('silent'), clock, dynamicOptionsPollMs: 3_600_000, webhookRetryDelaysMs: [50, 100] });
  // Pat is a product manager (product-managers may request production changes); Rae signs off releases.
  world.sandbox.seed({
    users: [
      { accountId: PEOPLE.outsider, displayName: 'Pat Product', email: 'pat@example.com', groups: ['product', 'product-managers'] },
      { accountId: RELEASE_MANAGER, displayName: 'Rae Release', email: 'rae@example.com', groups: ['release-managers'] },
    ],
  });
  const { engine } = world.runtime.opened;
  await engine.createProject({ id: 'checkout', name: 'Checkout' }, ctx);
  await engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ctx);
  await engine.createEnvironment({ project: 'checkout', name: 'production', labels: { production: true } }, ctx);
  prod = await setupCheckoutStack(world, { project: 'checkout', environment: 'production', databaseName: 'checkout_orders', username: 'checkout_app' }, ctx);
  staging = await setupCheckoutStack(world, { project: 'checkout', environment: 'staging', databaseName: 'checkout_orders_stg', username: 'checkout_stg', apiParams: { replicas: 2, log_level: 'info' } }, ctx);
  await syncStoryForms(world);
  const sync = new JiraFormsSync({
    client: new JiraClient({ baseUrl: world.sandbox.url, email: world.sandbox.credentials.email, apiToken: world.sandbox.credentials.apiToken, logger: createLogger('silent') }),
    ids: world.runtime.ids,
    forms: world.runtime.forms,
    config: await loadJiraConfig('examples/jira-config.yaml'),
    options: new EngineOptionSources(engine),
    logger: createLogger('silent'),
  });
  resync = () => sync.resyncDynamicOptions();
});
after(async () => {
  await world?.close();
});

async function latestRequest(key: string): Promise<Request> {
  const all = await world.runtime.opened.engine.requests.forOrigin('jira', key);
  return all.sort((a, b) => a.createdAt.localeCompare(b.createdAt)).pop()!;
}

async function jiraStatus(key: string): Promise<string> {
  return world.runtime.jira!['deps'].client.getStatus(key);
}

const enabled = async (key: string) => (await jiraFieldOptions(world, key)).filter((o) => !o.disabled).map((o) => o.value);

test('the promotion form offers only qa-signed versions, newest attested first, and the environments', { timeout: 60_000 }, async () => {
  assert.equal(prod.api.version, '2.13.2');
  assert.equal((await releaseRecord(world, 'checkout_orders'))?.version, '2.13.2', 'the production release record before the promotion');
  // Nothing is qa-signed yet: the Version dropdown is empty although two versions exist.
  assert.deepEqual(world.runtime.opened.engine.registry.versions('checkout-api').slice(0, 2), ['2.14.0', '2.13.2']);
  assert.deepEqual(await enabled('checkout-api/request_version'), []);

  // QA signs 2.14.0 (and not 2.13.2). Jira shows it once the dynamic options are re-synced.
  await world.runtime.opened.engine.attest('checkout-api', '2.14.0', 'qa-signed', 'quinn', ctx);
  assert.deepEqual(await enabled('checkout-api/request_version'), [], 'not in Jira before the re-sync');
  await resync();
  const versions = await enabled('checkout-api/request_version');
  assert.equal(versions.length, 1, `offered: ${versions.join(', ')}`);
  assert.match(versions[0]!, /^2\.14\.0 \(qa-signed by quinn, 2026-11-23\)$/);
  assert.ok(!versions.some((v) => v.startsWith('2.13.2')), '2.13.2 is not qa-signed and must not be offered');
  assert.deepEqual((await enabled('request/environment')).sort(), ['production', 'staging']);
  assert.deepEqual(world.sandbox.violations(), []);
});

test('Pat promotes checkout-api 2.13.2 → 2.14.0 in production: approved on Monday, applied when the window opens on Tuesday', { timeout: 120_000 }, async () => {
  const sb = world.sandbox;
  // The clock runs on from Monday noon while the stack is set up; on a loaded machine that can
  // take a minute, so the request is filed at Monday noon exactly, whatever the setup took.
  clock.set(MONDAY_NOON);
  const key = await filePromotionRequest(world, PEOPLE.outsider, { version: '2.14.0', environment: 'production', package: 'checkout-api' });

  const planned = await waitFor(() => conversation(sb, key).find((c) => c.status && /AWAITING APPROVAL/.test(c.text)), 'the plan comment', 60_000);
  // The headline names the package (its id holds the application name) and the versions.
  assert.match(planned.text, /Promote (?:checkout-production-)?checkout-api 2\.13\.2 → 2\.14\.0 in (?:checkout-)?production/);
  assert.match(planned.text, /0 to add · 1 to change · 0 to destroy/);
  assert.match(planned.text, /change \| app_release\.checkout_api/);
  assert.match(planned.text, /✔ checkout-api 2\.14\.0 is qa-signed \(quinn, 2026-11-23\)/);
  assert.match(planned.text, /needs 1 approval from release-managers or platform-approvers \(not the requester\)/);
  assert.match(planned.text, /Next production window: Tue 2026-11-24 10:00–16:00 Europe\/Berlin \(in 22 h 0 min\)/);
  assert.match(planned.text, /Approved now, it applies when the window opens/);
  await waitFor(async () => ((await jiraStatus(key)) === STATUSES.awaitingApproval ? true : undefined), 'awaiting approval status');
  const awaiting = await latestRequest(key);
  assert.equal(awaiting.kind, 'promote');
  assert.equal(awaiting.version, '2.14.0');
  assert.equal(awaiting.package, prod.api.id);
  assert.equal(awaiting.state, 'awaiting_approval');

  // Pat cannot approve her own promotion; nothing is scheduled.
  sb.as(PEOPLE.outsider).transition(key, STATUSES.approved);
  await waitFor(() => conversation(sb, key).find((c) => /not counted/.test(c.text) && /requester cannot approve/.test(c.text)), 'self-approval refusal');
  await waitFor(async () => ((await jiraStatus(key)) === STATUSES.awaitingApproval ? true : undefined), 'moved back');
  assert.equal((await latestRequest(key)).state, 'awaiting_approval');

  // Rae approves on Monday, outside the window: scheduled for the exact next opening.
  sb.as(RELEASE_MANAGER).transition(key, STATUSES.approved);
  const scheduled = await waitFor(async () => {
    const r = await latestRequest(key);
    return r.state === 'scheduled' ? r : undefined;
  }, 'the request scheduled');
  assert.equal(scheduled.scheduledFor, TUESDAY_OPENING.toISOString());
  assert.equal(scheduled.approvals.length, 1);
  assert.equal(scheduled.approvals[0]!.by.id, RELEASE_MANAGER);
  assert.deepEqual(scheduled.approvals[0]!.groups, ['release-managers']);
  await waitFor(() => conversation(sb, key).find((c) => !c.status && /scheduled for Tue 2026-11-24 10:00 Europe\/Berlin \(09:00 UTC\)/i.test(c.text)), 'the scheduled comment');
  const status = await waitFor(() => conversation(sb, key).find((c) => c.status && /SCHEDULED/.test(c.text)), 'the scheduled status comment');
  assert.match(status.text, /Approved by Rae Release \(release-managers\)/);
  assert.match(status.text, /Scheduled for Tue 2026-11-24 10:00 Europe\/Berlin \(09:00 UTC\)/);

  // The apply waits in BullMQ as a job delayed until the opening; nothing has changed yet.
  // Owed with the state change, handed to the queue by the outbox relay moments later.
  const job = await waitFor(() => world.runtime.queues.requests.getJob(jobId(`${scheduled.id}:apply:${scheduled.revision}`)), 'a delayed apply job');
  assert.ok(job, 'a delayed apply job');
  assert.equal(await job.isDelayed(), true);
  // The job's due instant in real time, moved by the test clock's constant offset, against the
  // opening: neither side depends on how long the test has run.
  const offset = clock.now().getTime() - Date.now();
  const due = job.timestamp + (job.opts.delay ?? 0) + offset;
  assert.ok(Math.abs(due - TUESDAY_OPENING.getTime()) < 10_000, `job due at ${new Date(due).toISOString()}, the window opens at ${TUESDAY_OPENING.toISOString()}`);
  assert.equal((await releaseRecord(world, 'checkout_orders'))?.version, '2.13.2');
  assert.equal((await world.runtime.opened.engine.getPackage(prod.api.id)).version, '2.13.2');

  // Tuesday 10:00:02 in Berlin: the job's time has come (promoted instead of waiting 22 hours).
  clock.set(new Date(TUESDAY_OPENING.getTime() + 2_000));
  await job.promote();
  const applied = await waitFor(() => conversation(sb, key).find((c) => c.status && /APPLIED/.test(c.text)), 'applied', 60_000);
  assert.match(applied.text, /Applied/);
  const done = await latestRequest(key);
  assert.equal(done.state, 'applied');
  const deployment = await world.runtime.opened.engine.inventory.get('deployment', done.deployment!);
  assert.ok(Date.parse(deployment.startedAt!) >= TUESDAY_OPENING.getTime() && Date.parse(deployment.finishedAt!) < TUESDAY_CLOSE.getTime(), 'applied inside the window');
  const record = await releaseRecord(world, 'checkout_orders');
  assert.equal(record?.version, '2.14.0');
  assert.equal(record?.image, 'ghcr.io/acme/checkout-api:2.14.0');
  assert.equal(record?.replicas, 4, 'the running params were kept');
  const pkg = await world.runtime.opened.engine.getPackage(prod.api.id);
  assert.equal(pkg.version, '2.14.0');
  await waitFor(async () => ((await jiraStatus(key)) === STATUSES.done ? true : undefined), 'issue done');
  // Staging was not touched.
  assert.equal((await releaseRecord(world, 'checkout_orders_stg'))?.version, '2.13.2');

  // The approval is audited with the surface named.
  const audit = await world.runtime.opened.engine.listAudit({ limit: 1000 });
  const approvals = audit.filter((e) => e.request === done.id && e.action === 'request.approve');
  assert.equal(approvals.length, 1);
  assert.equal(approvals[0]!.actor, RELEASE_MANAGER);
  assert.equal(approvals[0]!.surface, 'jira');
  assert.equal(conversation(sb, key).filter((c) => c.status).length, 1, 'one status comment, edited in place');
  assert.deepEqual(sb.violations(), []);
});

test('a revoked attestation is refused on submit, with the reason in the ticket; nothing is deployed', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  clock.set(new Date('2026-11-24T10:00:00Z')); // Tuesday 11:00 in Berlin: the staging window is open.
  await world.runtime.opened.engine.attestations.revoke('checkout-api', '2.14.0', 'qa-signed', ctx, 'payment captures fail under load');
  // Jira still offers 2.14.0 (the dropdown is re-synced later): a form opened before the revocation.
  assert.ok((await enabled('checkout-api/request_version')).some((v) => v.startsWith('2.14.0 ')));
  const key = await filePromotionRequest(world, PEOPLE.outsider, { version: '2.14.0', environment: 'staging', package: 'checkout-api' });

  const refused = await waitFor(() => conversation(sb, key).find((c) => c.status && /REJECTED/.test(c.text)), 'the refusal', 60_000);
  assert.match(refused.text, /✘ .*checkout-api 2\.14\.0 is not qa-signed/);
  // The event comment saying why is its own notice: it may land just after the status comment.
  await waitFor(() => conversation(sb, key).find((c) => !c.status && /✘ Request refused by policy: Only qa-signed versions may leave dev: checkout-api 2\.14\.0 is not qa-signed/.test(c.text)), 'an event comment says why');
  // The ticket stays where the workflow allows (INFRA rejects only from "Awaiting approval"); the request is closed.
  const r = await latestRequest(key);
  assert.equal(r.state, 'rejected');
  assert.equal(r.kind, 'promote');
  assert.ok(r.decisions.some((d) => d.rule === 'version-qa-signed' && d.outcome === 'deny'));
  // Nothing applied: staging still runs 2.13.2, and no approval can revive the request.
  assert.equal((await releaseRecord(world, 'checkout_orders_stg'))?.version, '2.13.2');
  assert.equal((await world.runtime.opened.engine.getPackage(staging.api.id)).version, '2.13.2');
  const late = await world.runtime.workflow.approve({ requestId: r.id, approver: { id: PEOPLE.approver }, surface: 'jira' });
  assert.equal(late.counted, false);

  // After the re-sync the option is disabled (kept, so old tickets still read right).
  await resync();
  const opts = await jiraFieldOptions(world, 'checkout-api/request_version');
  assert.ok(opts.find((o) => o.value.startsWith('2.14.0 '))?.disabled, 'the revoked version is disabled');
  const versionField = (await world.runtime.ids.all('jira'))['checkout-api/request_version']!;
  assert.throws(() => sb.as(PEOPLE.outsider).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 'again', fields: { [versionField]: { value: opts[0]!.value } } }));
  await world.runtime.opened.engine.attest('checkout-api', '2.14.0', 'qa-signed', 'quinn', ctx);
});

test('a promotion to production by someone who may not target it is refused, naming who may', { timeout: 60_000 }, async () => {
  const sb = world.sandbox;
  await resync();
  const key = await filePromotionRequest(world, PEOPLE.developer, { version: '2.14.0', environment: 'production', package: 'checkout-api' });
  const refused = await waitFor(() => conversation(sb, key).find((c) => c.status && /REJECTED/.test(c.text)), 'the refusal', 60_000);
  assert.match(refused.text, /Dana Developer may not request changes in production: only .*product-managers/);
  const r = await latestRequest(key);
  assert.equal(r.state, 'rejected');
  assert.ok(r.decisions.some((d) => d.rule === 'requester' && d.outcome === 'deny'));
});

// Runs last: every call of every step above was checked against the official API documents.
test('the whole story made no contract violations', () => {
  assert.deepEqual(world.sandbox.violations(), []);
});
