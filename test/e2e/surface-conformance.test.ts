/**
 * One conformance suite for the surface interface (src/surfaces/surface.ts): the same tests run
 * against the Jira adapter and the ServiceNow adapter, each behind its own running service and
 * contract-checked sandbox. A driver per surface knows only how a person acts there and how to
 * read the ticket back; every assertion is shared.
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createLogger } from '../../src/engine/logger.ts';
import { UserError } from '../../src/engine/errors.ts';
import type { Request } from '../../src/engine/model.ts';
import type { SurfaceAdapter } from '../../src/surfaces/surface.ts';
import { startStoryWorld, shiftedClock, type StoryWorld } from '../../src/demo/story.ts';
import { conversation, fileDatabaseRequest, syncStoryForms } from '../../src/demo/story-steps.ts';
import { startServiceNowWorld, type ServiceNowWorld } from '../../src/demo/servicenow-world.ts';
import { orderDatabase, syncServiceNowForms, waitFor, workNotes } from '../../src/demo/servicenow-steps.ts';
import { PEOPLE as JIRA_PEOPLE, STATUSES as JIRA_STATUSES } from '../../sandbox/jira/index.ts';
import { PEOPLE as SN_PEOPLE } from '../../sandbox/servicenow/example-seed.ts';
import { signServiceNowBody } from '../../sandbox/servicenow/webhook-sender.ts';

/** What the shared tests need to know about one surface. */
interface SurfaceDriver {
  readonly name: 'jira' | 'servicenow';
  adapter(): SurfaceAdapter;
  /** The header carrying the signature, as error messages must name it. */
  signatureHeader: string;
  /** A body the surface could send, and its headers: correctly signed, badly signed, unsigned. */
  delivery(id: string): { body: string; good: Record<string, string>; bad: Record<string, string>; unsigned: Record<string, string> };
  /** A developer files a database request the way people do there; returns the ticket ref. */
  fileRequest(pkg: string): Promise<string>;
  /** The surface's id of the developer who filed it. */
  developerId(): string;
  /** Texts of the ticket's status entries (status comment or status work notes), oldest first. */
  statusEntries(ref: string): string[];
  /** Texts of every entry on the ticket (comments or work notes), oldest first. */
  entries(ref: string): string[];
  /** The developer edits answers of the database form (by field name) the way people do there. */
  edit(ref: string, answers: Record<string, string | number>): Promise<void>;
  /** An approver approves the ticket's request once the surface asks for approval. */
  approve(ref: string): Promise<void>;
  /** Jira edits one status comment in place; ServiceNow appends work notes (journals cannot be edited). */
  statusEdits: 'in-place' | 'append';
  people(): { active: string; activeGroup: string; inactive: string; unknown: string };
}

const clock = shiftedClock(new Date('2026-11-24T09:00:00Z'));
const ctx = { actor: 'platform-admin', surface: 'cli' as const };
let jira: StoryWorld;
let sn: ServiceNowWorld;

async function prepare(engine: StoryWorld['runtime']['opened']['engine']): Promise<void> {
  await engine.createProject({ id: 'checkout', name: 'Checkout' }, ctx);
  await engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ctx);
  await engine.attest('postgres-database', '1.4.0', 'qa-signed', 'quinn', ctx);
}

before(async () => {
  [jira, sn] = await Promise.all([
    startStoryWorld({ logger: createLogger('silent'), clock, webhookRetryDelaysMs: [50, 100] }),
    startServiceNowWorld({ logger: createLogger('silent'), clock, webhookRetryDelaysMs: [50, 100] }),
  ]);
  await prepare(jira.runtime.opened.engine);
  await prepare(sn.runtime.opened.engine);
  await syncStoryForms(jira);
  await syncServiceNowForms(sn);
});
after(async () => {
  await jira?.close();
  await sn?.close();
});

const jiraDriver: SurfaceDriver = {
  name: 'jira',
  adapter: () => jira.runtime.adapters.jira!,
  signatureHeader: 'X-Hub-Signature',
  delivery: (id) => {
    const body = JSON.stringify({ webhookEvent: 'jira:issue_updated', timestamp: Date.now() });
    const sign = (secret: string) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
    return {
      body,
      good: { 'content-type': 'application/json', 'x-hub-signature': sign(jira.webhookSecret), 'x-atlassian-webhook-identifier': id },
      bad: { 'content-type': 'application/json', 'x-hub-signature': sign('not-the-secret-0123456789'), 'x-atlassian-webhook-identifier': id },
      unsigned: { 'content-type': 'application/json', 'x-atlassian-webhook-identifier': id },
    };
  },
  fileRequest: (pkg) => fileDatabaseRequest(jira, JIRA_PEOPLE.developer, { package: pkg, database: pkg.replace(/-/g, '_'), username: `${pkg.replace(/-/g, '_')}_app`, size: 20 }),
  developerId: () => JIRA_PEOPLE.developer,
  statusEntries: (ref) => conversation(jira.sandbox, ref).filter((c) => c.status).map((c) => c.text),
  entries: (ref) => conversation(jira.sandbox, ref).map((c) => c.text),
  edit: async (ref, answers) => {
    const ids = await jira.runtime.ids.all('jira');
    jira.sandbox.as(JIRA_PEOPLE.developer).edit(ref, Object.fromEntries(Object.entries(answers).map(([name, v]) => [ids[`postgres-database/${name}`]!, v])));
  },
  approve: async (ref) => {
    const status = async () => ((await jira.runtime.jira!['deps'].client.getStatus(ref)) === JIRA_STATUSES.awaitingApproval ? true : undefined);
    await waitFor(status, 'the issue awaiting approval');
    jira.sandbox.as(JIRA_PEOPLE.approver).transition(ref, JIRA_STATUSES.approved);
  },
  statusEdits: 'in-place',
  people: () => ({ active: JIRA_PEOPLE.approver, activeGroup: 'platform-approvers', inactive: JIRA_PEOPLE.inactiveApprover, unknown: '712020:nobody-at-all' }),
};

const serviceNowDriver: SurfaceDriver = {
  name: 'servicenow',
  adapter: () => sn.runtime.adapters.servicenow!,
  signatureHeader: 'X-ServiceNow-Signature',
  delivery: (id) => {
    const eventId = createHmac('md5', 'conformance').update(id).digest('hex');
    const body = JSON.stringify({ event_id: eventId, event: 'ritm.updated', table: 'sc_req_item', sys_id: 'b'.repeat(32), sys_updated_on: '2026-11-24 09:00:00' });
    return {
      body,
      good: { 'content-type': 'application/json', 'x-servicenow-signature': signServiceNowBody(sn.webhookSecret, body), 'x-servicenow-event-id': eventId },
      bad: { 'content-type': 'application/json', 'x-servicenow-signature': signServiceNowBody('not-the-secret-0123456789', body), 'x-servicenow-event-id': eventId },
      unsigned: { 'content-type': 'application/json', 'x-servicenow-event-id': eventId },
    };
  },
  fileRequest: async (pkg) => (await orderDatabase(sn, SN_PEOPLE.developer, { package: pkg, database: pkg.replace(/-/g, '_'), username: `${pkg.replace(/-/g, '_')}_app`, size: 20 })).sysId,
  developerId: () => sn.sandbox.state.mustUser(SN_PEOPLE.developer).sys_id!,
  statusEntries: (ref) => workNotes(sn.sandbox, ref).filter((n) => n.status).map((n) => n.text),
  entries: (ref) => workNotes(sn.sandbox, ref).map((n) => n.text),
  edit: async (ref, answers) => {
    sn.sandbox.as(SN_PEOPLE.developer).editVariables(ref, Object.fromEntries(Object.entries(answers).map(([name, v]) => [name, String(v)])));
  },
  approve: async (ref) => {
    const approver = sn.sandbox.state.mustUser(SN_PEOPLE.approver).sys_id!;
    await waitFor(() => sn.sandbox.state.approvalsFor(ref).some((a) => a.approver === approver && a.state === 'requested'), 'an approval record for the approver');
    sn.sandbox.as(SN_PEOPLE.approver).approve(ref);
  },
  statusEdits: 'append',
  people: () => ({
    active: sn.sandbox.state.mustUser(SN_PEOPLE.approver).sys_id!,
    activeGroup: 'platform-approvers',
    inactive: sn.sandbox.state.mustUser(SN_PEOPLE.inactiveApprover).sys_id!,
    unknown: 'f'.repeat(32),
  }),
};

function engineOf(d: SurfaceDriver) {
  return (d.name === 'jira' ? jira : sn).runtime;
}

async function requestsOf(d: SurfaceDriver, ref: string): Promise<Request[]> {
  return (await engineOf(d).opened.engine.requests.forOrigin(d.name, ref)).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

for (const d of [jiraDriver, serviceNowDriver]) {
  describe(`surface conformance: ${d.name}`, () => {
    test('verify accepts a correctly signed delivery and returns its delivery id', () => {
      const { body, good } = d.delivery('conf-good-1');
      const { deliveryId } = d.adapter().verify(good, Buffer.from(body));
      assert.ok(deliveryId.length > 0);
      assert.equal(d.adapter().verify(good, Buffer.from(body)).deliveryId, deliveryId, 'the same delivery has the same id (dedupe key)');
    });

    test('verify refuses a bad, a missing, or a body-changed signature, naming the header', () => {
      const { body, good, bad, unsigned } = d.delivery('conf-bad-1');
      for (const [what, headers, raw] of [
        ['bad', bad, body],
        ['missing', unsigned, body],
        ['changed body', good, body.replace('}', ',"x":1}')],
      ] as const) {
        assert.throws(
          () => d.adapter().verify(headers, Buffer.from(raw)),
          (err: unknown) => err instanceof UserError && err.code === 'unauthorized' && err.message.includes(d.signatureHeader),
          `${what} signature`,
        );
      }
    });

    test('a request filed on the surface becomes a workflow request', { timeout: 60_000 }, async () => {
      const ref = await d.fileRequest('conf-filed-db');
      const [r] = await waitFor(async () => {
        const all = await requestsOf(d, ref);
        return all.length ? all : undefined;
      }, 'the request');
      assert.equal(r!.origin.surface, d.name);
      assert.equal(r!.origin.ref, ref);
      assert.equal(r!.actor.id, d.developerId());
      assert.equal(r!.bundle, 'postgres-database');
      assert.equal(r!.project, 'checkout');
      assert.equal(r!.environment, 'checkout-staging');
      assert.equal(r!.submitted?.database_name, 'conf_filed_db');
      const planned = await waitFor(async () => ((await requestsOf(d, ref)).at(-1)!.state === 'awaiting_approval' ? true : undefined), 'the plan');
      assert.ok(planned);
      await waitFor(() => d.statusEntries(ref).some((t) => /AWAITING APPROVAL/.test(t)), 'a status entry in the ticket');
    });

    test('publish of a status notice is idempotent: one status entry per notice key, however often it is delivered', { timeout: 60_000 }, async () => {
      const ref = await d.fileRequest('conf-notice-db');
      await waitFor(() => d.statusEntries(ref).some((t) => /AWAITING APPROVAL/.test(t)), 'the plan in the ticket');
      const r = (await requestsOf(d, ref)).at(-1)!;
      const cancelled = await engineOf(d).workflow.close(r.id, 'cancelled', { id: d.developerId() }, d.name);
      // The outbox delivers this notice too; a retried job and a stale duplicate deliver it again.
      const notice = { requestId: r.id, message: 'status' as const, key: `${r.id}:status:${cancelled.revision}` };
      const log = createLogger('silent');
      await d.adapter().publish(notice, log);
      await d.adapter().publish(notice, log);
      await waitFor(() => d.statusEntries(ref).some((t) => /CANCELLED/.test(t)), 'the cancelled status');
      await new Promise((res) => setTimeout(res, 500));
      await d.adapter().publish(notice, log);
      const entries = d.statusEntries(ref);
      assert.equal(entries.filter((t) => /CANCELLED/.test(t)).length, 1, 'the cancelled status is in the ticket once');
      if (d.statusEdits === 'in-place') assert.equal(entries.length, 1, 'one status comment, edited in place');
      else assert.ok(entries.length >= 2 && /AWAITING APPROVAL/.test(entries[0]!), 'earlier status notes stay as history');
      assert.match(entries.at(-1)!, /CANCELLED/);
    });

    test('day 2: an edit after apply files an update request on the same ticket; an immutable field is refused by its label', { timeout: 120_000 }, async () => {
      const engine = engineOf(d).opened.engine;
      const ref = await d.fileRequest('conf-day2-db');
      const latest = async () => (await requestsOf(d, ref)).at(-1)!;
      await d.approve(ref);
      const first = await waitFor(async () => ((await latest()).state === 'applied' ? latest() : undefined), 'the request applied', 60_000);
      assert.equal(first.kind, 'provision');

      await d.edit(ref, { expected_size_gib: 40 });
      const update = await waitFor(async () => {
        const r = await latest();
        return r.id !== first.id && r.state === 'awaiting_approval' ? r : undefined;
      }, 'an update request planned');
      assert.equal(update.kind, 'update');
      assert.equal(update.origin.ref, ref, 'filed on the same ticket');
      assert.equal(update.actor.id, d.developerId(), 'filed by whoever edited');
      assert.equal(update.plan!.summary.add, 0);
      assert.ok(update.plan!.summary.change >= 1);
      await waitFor(() => d.statusEntries(ref).some((t) => /AWAITING APPROVAL/.test(t) && /0 to add/.test(t)), 'the update plan in the ticket');
      await d.approve(ref);
      await waitFor(async () => ((await latest()).state === 'applied' && (await latest()).id === update.id ? true : undefined), 'the update applied', 60_000);
      assert.equal((await engine.getPackage('checkout-staging-conf-day2-db')).lastAppliedParams?.expected_size_gib, 40);

      // The database name cannot change after creation: refused, naming the field by its label.
      await d.edit(ref, { database_name: 'renamed_day2' });
      await waitFor(() => d.entries(ref).some((t) => /cannot be planned/.test(t) && /Database name/.test(t)), 'the immutable refusal');
      const refused = await latest();
      assert.equal(refused.state, 'invalid');
      assert.equal(refused.kind, 'update');
      assert.equal((await engine.getPackage('checkout-staging-conf-day2-db')).lastAppliedParams?.database_name, 'conf_day2_db');
    });

    test('directory: active flag and groups of a user; null for someone the surface does not know', async () => {
      const p = d.people();
      const active = await d.adapter().directory.getUser(p.active);
      assert.equal(active?.id, p.active);
      assert.equal(active?.active, true);
      assert.ok(active?.groups.includes(p.activeGroup), `groups: ${active?.groups.join(', ')}`);
      const inactive = await d.adapter().directory.getUser(p.inactive);
      assert.equal(inactive?.active, false);
      assert.equal(await d.adapter().directory.getUser(p.unknown), null);
    });
  });
}
