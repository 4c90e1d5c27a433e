/**
 * The webhook router against a real intake queue: the BullMQ job id is the only dedupe key, so
 * a delivery whose enqueue failed (or never happened: the process died) is queued on the
 * surface's retry, while a true duplicate is answered "duplicate" and queued once; a signed
 * delivery that is not JSON or names no delivery is answered 400 at once, nothing queued; an
 * echo of the service's own write is answered 202 "ignored", nothing queued.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import axios from 'axios';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { Metrics } from '../../src/engine/metrics.ts';
import { UserError, ValidationError } from '../../src/engine/errors.ts';
import { deliveryJobId, queueNames, WorkflowQueues, type IntakeJobData } from '../../src/queue/queues.ts';
import { webhookRouter, type WebhookRouterDeps } from '../../src/surfaces/http/webhooks.ts';
import type { InboundHeaders, SurfaceAdapter } from '../../src/surfaces/surface.ts';
import { JiraSurface, type JiraSurfaceDeps } from '../../src/surfaces/jira/adapter.ts';
import { signJiraBody } from '../../src/surfaces/jira/webhook.ts';
import { ServiceNowSurface, type ServiceNowSurfaceDeps } from '../../src/surfaces/servicenow/adapter.ts';
import { signServiceNowBody } from '../../sandbox/servicenow/webhook-sender.ts';

const redis = useRedis();
let queues: WorkflowQueues;

before(async () => {
  await redis.ready();
  queues = new WorkflowQueues({ connection: redis.client(), names: queueNames(uniqueName('intake-webhooks')) });
  redis.cleanup(() => queues.close());
});

/** A surface whose signature is `x-sig: good`, delivery id `x-delivery`; `x-malformed` makes verify refuse with code validation. */
const stubAdapter: SurfaceAdapter = {
  name: 'jira',
  verify(headers: InboundHeaders) {
    if (headers['x-sig'] !== 'good') throw new UserError('unauthorized', 'X-Sig does not match the body');
    if (headers['x-malformed']) throw new ValidationError('X-Delivery is malformed', [{ pointer: '', message: 'malformed' }]);
    return { deliveryId: String(headers['x-delivery'] ?? '') };
  },
  handle: async () => undefined,
  publish: async () => undefined,
  directory: { getUser: async () => null },
};

/** Serves one webhook router until the test ends; returns its base URL. */
async function serve(t: { after(fn: () => Promise<void>): void }, deps: Partial<WebhookRouterDeps>): Promise<string> {
  const app = express();
  app.use(webhookRouter({ adapters: { jira: stubAdapter }, queues, logger: createLogger('silent'), metrics: new Metrics(), ...deps }));
  const server: Server = await new Promise((res) => {
    const s = app.listen(0, '127.0.0.1', () => res(s));
  });
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((res) => server.close(() => res()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function post(base: string, delivery: string, body: string = JSON.stringify({ webhookEvent: 'jira:issue_created' }), headers: Record<string, string> = {}, signal?: AbortSignal) {
  return axios.post(`${base}/webhooks/jira`, body, {
    headers: { 'content-type': 'application/json', 'x-sig': 'good', ...(delivery ? { 'x-delivery': delivery } : {}), ...headers },
    validateStatus: () => true,
    transformRequest: (b: unknown) => b,
    ...(signal ? { signal } : {}),
  });
}

async function jobState(deliveryId: string): Promise<string> {
  return queues.intake.getJobState(deliveryJobId({ surface: 'jira', deliveryId }));
}

test('a delivery whose enqueue threw is queued on the retry, and a true duplicate is not queued twice', async (t) => {
  let failures = 1;
  const flaky: Pick<WorkflowQueues, 'addDelivery'> = {
    addDelivery: async (data: IntakeJobData) => {
      if (failures-- > 0) throw new Error('Redis connection lost');
      return queues.addDelivery(data);
    },
  };
  const base = await serve(t, { queues: flaky });
  const first = await post(base, 'd-throws');
  assert.equal(first.status, 503);
  assert.equal(await jobState('d-throws'), 'unknown');

  const retry = await post(base, 'd-throws');
  assert.equal(retry.status, 202);
  assert.deepEqual(retry.data, { status: 'queued', delivery: 'd-throws' });
  assert.equal(await jobState('d-throws'), 'waiting');

  const again = await post(base, 'd-throws');
  assert.deepEqual(again.data, { status: 'duplicate', delivery: 'd-throws' });
  const jobs = await queues.intake.getJobs(['waiting']);
  assert.equal(jobs.filter((j) => j.data.deliveryId === 'd-throws').length, 1);
});

test('a process that died between accepting a delivery and queueing it leaves no trace: the retry is queued', async (t) => {
  // The first process verifies the delivery and dies before its enqueue reaches Redis.
  let reached!: () => void;
  const enqueueReached = new Promise<void>((res) => (reached = res));
  const dying: Pick<WorkflowQueues, 'addDelivery'> = {
    addDelivery: () => {
      reached();
      return new Promise(() => undefined);
    },
  };
  const dead = await serve(t, { queues: dying });
  const abort = new AbortController();
  const lost = post(dead, 'd-crash', undefined, {}, abort.signal).catch((err: unknown) => err);
  await enqueueReached;
  abort.abort();
  await lost;

  // The surface retries against the restarted process.
  const restarted = await serve(t, {});
  const retry = await post(restarted, 'd-crash');
  assert.equal(retry.status, 202);
  assert.deepEqual(retry.data, { status: 'queued', delivery: 'd-crash' });
  assert.equal(await jobState('d-crash'), 'waiting');
});

test('a signed delivery whose body is not JSON is answered 400 naming it, and nothing is queued', async (t) => {
  const base = await serve(t, {});
  const r = await post(base, 'd-not-json', 'this is not { json');
  assert.equal(r.status, 400);
  assert.equal(r.data.error.code, 'validation');
  assert.match(r.data.error.message, /not JSON/);
  assert.equal(await jobState('d-not-json'), 'unknown');
});

test('a signed delivery without a delivery id is answered 400, and nothing is queued', async (t) => {
  const base = await serve(t, {});
  const before = await queues.intake.getJobCountByTypes('waiting', 'active', 'delayed', 'completed', 'failed');
  const r = await post(base, '');
  assert.equal(r.status, 400);
  assert.match(r.data.error.message, /delivery identifier/);
  assert.equal(await queues.intake.getJobCountByTypes('waiting', 'active', 'delayed', 'completed', 'failed'), before);
});

test('an adapter refusing a delivery as malformed (code validation) is answered 400, a bad signature 401', async (t) => {
  const base = await serve(t, {});
  const malformed = await post(base, 'd-malformed', undefined, { 'x-malformed': '1' });
  assert.equal(malformed.status, 400);
  assert.equal(malformed.data.error.code, 'validation');
  const unsigned = await post(base, 'd-unsigned', undefined, { 'x-sig': 'bad' });
  assert.equal(unsigned.status, 401);
  assert.equal(unsigned.data.error.code, 'unauthorized');
  assert.equal(await jobState('d-malformed'), 'unknown');
  assert.equal(await jobState('d-unsigned'), 'unknown');
});

test('Jira: a correctly signed body that is not JSON is refused at the door, not retried in the intake', async (t) => {
  const secret = 'a-webhook-secret-of-some-length';
  const jira = new JiraSurface({ webhookSecret: secret, config: { projects: {} }, engine: { inventory: { audit: {} } } } as unknown as JiraSurfaceDeps);
  const base = await serve(t, { adapters: { jira } });
  const body = '<html>not json</html>';
  const r = await post(base, '', body, { 'x-hub-signature': signJiraBody(body, secret), 'x-atlassian-webhook-identifier': 'jira-not-json' });
  assert.equal(r.status, 400);
  assert.match(r.data.error.message, /not JSON/);
  assert.equal(await jobState('jira-not-json'), 'unknown');
});

test('Jira: an echo of the service’s own comment or transition is answered at the door and queued nowhere; the same from a person is queued', async (t) => {
  const secret = 'a-webhook-secret-of-some-length';
  const jira = new JiraSurface({ webhookSecret: secret, config: { projects: {} }, engine: { inventory: { audit: {} } }, selfAccountId: 'svc-account' } as unknown as JiraSurfaceDeps);
  const base = await serve(t, { adapters: { jira } });
  const issue = { id: '10001', key: 'INFRA-1', fields: { project: { key: 'INFRA' }, issuetype: { name: 'Infrastructure request' } } };
  const send = (delivery: string, payload: object) => {
    const body = JSON.stringify(payload);
    return post(base, '', body, { 'x-hub-signature': signJiraBody(body, secret), 'x-atlassian-webhook-identifier': delivery });
  };
  const comment = (author: string) => ({ webhookEvent: 'comment_created', issue, comment: { id: '1', author: { accountId: author }, body: 'Plan ready' } });
  const transition = (user: string) => ({ webhookEvent: 'jira:issue_updated', issue, user: { accountId: user }, changelog: { items: [{ field: 'status', fromString: 'Open', toString: 'Planned' }] } });

  const ownComment = await send('echo-comment', comment('svc-account'));
  assert.equal(ownComment.status, 202);
  assert.equal(ownComment.data.status, 'ignored');
  const ownEdit = await send('echo-edit', { webhookEvent: 'comment_updated', issue, comment: { id: '1', author: { accountId: 'dana' }, updateAuthor: { accountId: 'svc-account' }, body: 'x' } });
  assert.equal(ownEdit.data.status, 'ignored');
  const ownTransition = await send('echo-transition', transition('svc-account'));
  assert.equal(ownTransition.data.status, 'ignored');
  for (const id of ['echo-comment', 'echo-edit', 'echo-transition']) assert.equal(await jobState(id), 'unknown', id);

  const personComment = await send('person-comment', comment('dana-account'));
  assert.deepEqual(personComment.data, { status: 'queued', delivery: 'person-comment' });
  await send('person-transition', transition('dana-account'));
  for (const id of ['person-comment', 'person-transition']) assert.equal(await jobState(id), 'waiting', id);
});

test('ServiceNow: a work note the integration user wrote is answered at the door and queued nowhere; one from a person is queued', async (t) => {
  const secret = 'a-servicenow-secret-of-some-length';
  const servicenow = new ServiceNowSurface({
    webhook: { secret },
    integrationUser: 'ts.integration',
    config: { journal: { requester: 'comments', internal: 'work_notes' } },
  } as unknown as ServiceNowSurfaceDeps);
  const base = await serve(t, { adapters: { servicenow } });
  const send = (eventId: string, writer: string) => {
    const body = JSON.stringify({ event_id: eventId, event: 'work_note.added', table: 'sc_req_item', sys_id: 'b'.repeat(32), sys_updated_by: writer });
    return axios.post(`${base}/webhooks/servicenow`, body, {
      headers: { 'content-type': 'application/json', 'x-servicenow-signature': signServiceNowBody(secret, body) },
      validateStatus: () => true,
      transformRequest: (b: unknown) => b,
    });
  };
  const state = (deliveryId: string) => queues.intake.getJobState(deliveryJobId({ surface: 'servicenow', deliveryId }));
  const own = await send('1'.repeat(32), 'ts.integration');
  assert.equal(own.status, 202);
  assert.equal(own.data.status, 'ignored');
  assert.equal(await state('1'.repeat(32)), 'unknown');
  const person = await send('2'.repeat(32), 'dana');
  assert.equal(person.data.status, 'queued');
  assert.equal(await state('2'.repeat(32)), 'waiting');
});

test('Jira: while the service’s own account is unknown, deliveries are queued and the door looks it up once, not per delivery', async (t) => {
  const secret = 'a-webhook-secret-of-some-length';
  let lookups = 0;
  const client = { myself: async () => (lookups++, Promise.reject(new Error('Jira cannot be reached'))) };
  const jira = new JiraSurface({ webhookSecret: secret, config: { projects: {} }, engine: { inventory: { audit: {} } }, client } as unknown as JiraSurfaceDeps);
  const base = await serve(t, { adapters: { jira } });
  for (const id of ['unknown-self-1', 'unknown-self-2', 'unknown-self-3']) {
    const body = JSON.stringify({ webhookEvent: 'comment_created', comment: { id: '1', author: { accountId: 'svc-account' }, body: 'x' } });
    const r = await post(base, '', body, { 'x-hub-signature': signJiraBody(body, secret), 'x-atlassian-webhook-identifier': id });
    assert.equal(r.data.status, 'queued');
  }
  assert.equal(lookups, 1);
});
