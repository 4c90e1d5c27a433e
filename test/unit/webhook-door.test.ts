/**
 * The webhook door served ahead of Express (on the raw `node:http` request) answers every
 * delivery exactly as the same door inside Express does: queued, duplicate, own echo, refused
 * signature, missing delivery id, body not JSON, body over the limit; and hands everything else
 * (other routes, unknown surfaces, encoded bodies) to the Express app.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import express from 'express';
import { createLogger } from '../../src/engine/logger.ts';
import { Metrics } from '../../src/engine/metrics.ts';
import { UserError, ValidationError } from '../../src/engine/errors.ts';
import type { IntakeJobData } from '../../src/queue/queues.ts';
import { errorResponse } from '../../src/surfaces/http/app.ts';
import { byteLimit, WebhookDoor, type WebhookRouterDeps } from '../../src/surfaces/http/webhooks.ts';
import type { InboundHeaders, SurfaceAdapter } from '../../src/surfaces/surface.ts';

/** A surface whose signature is `x-sig: good`, delivery id `x-delivery`; a body `{"self":true}` is its own echo. */
const stubAdapter: SurfaceAdapter = {
  name: 'jira',
  verify(headers: InboundHeaders) {
    if (headers['x-sig'] !== 'good') throw new UserError('unauthorized', 'X-Sig does not match the body');
    if (headers['x-malformed']) throw new ValidationError('X-Delivery is malformed', [{ pointer: '', message: 'malformed' }]);
    return { deliveryId: String(headers['x-delivery'] ?? '') };
  },
  isOwnEcho: (payload) => (payload as { self?: unknown }).self === true,
  handle: async () => undefined,
  publish: async () => undefined,
  directory: { getUser: async () => null },
};

/** An in-memory intake that dedupes by delivery id, as the real one does by job id. */
function memoryQueues(): { queues: WebhookRouterDeps['queues']; queued: IntakeJobData[] } {
  const queued: IntakeJobData[] = [];
  return {
    queued,
    queues: {
      addDelivery: async (data) => {
        if (queued.some((q) => q.deliveryId === data.deliveryId)) return 'duplicate';
        queued.push(data);
        return 'queued';
      },
    },
  };
}

/** Listens with `listener` until the test ends; its base URL. */
async function listen(t: { after(fn: () => Promise<void>): void }, listener: RequestListener): Promise<string> {
  const server: Server = createServer(listener);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The Express app the service builds around the door (its error answers as app.ts gives them), with a marker on every request Express sees. */
function appWith(door: WebhookDoor, seen: string[]): express.Express {
  const app = express();
  app.use((req, _res, next) => {
    seen.push(`${req.method} ${req.url}`);
    next();
  });
  app.use(door.router());
  app.use((_req, res) => {
    res.status(404).json({ error: { code: 'not_found', message: 'no such route' } });
  });
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    const { status, body } = errorResponse(err);
    res.status(status).json(body);
  });
  return app;
}

interface Reply {
  status: number;
  type: string | undefined;
  body: unknown;
}

/** POSTs `body` with `headers` to `path`; the answer. */
function post(base: string, path: string, body: Buffer | string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, base), { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Deliveries of every kind the door tells apart, each sent with its own delivery id. */
const CASES: { name: string; path?: string; body: Buffer | string; headers: Record<string, string> }[] = [
  { name: 'a signed delivery', body: '{"webhookEvent":"jira:issue_created"}', headers: { 'x-sig': 'good', 'x-delivery': 'd-1' } },
  { name: 'the same delivery again', body: '{"webhookEvent":"jira:issue_created"}', headers: { 'x-sig': 'good', 'x-delivery': 'd-1' } },
  { name: 'an echo of the service’s own write', body: '{"self":true}', headers: { 'x-sig': 'good', 'x-delivery': 'd-2' } },
  { name: 'a wrong signature', body: '{}', headers: { 'x-sig': 'bad', 'x-delivery': 'd-3' } },
  { name: 'a malformed delivery header', body: '{}', headers: { 'x-sig': 'good', 'x-delivery': 'd-4', 'x-malformed': '1' } },
  { name: 'no delivery id', body: '{}', headers: { 'x-sig': 'good' } },
  { name: 'a body that is not JSON', body: 'not json', headers: { 'x-sig': 'good', 'x-delivery': 'd-5' } },
  { name: 'a body over the limit', body: `{"pad":"${'x'.repeat(2048)}"}`, headers: { 'x-sig': 'good', 'x-delivery': 'd-6' } },
  { name: 'a surface that is not enabled', path: '/webhooks/servicenow', body: '{}', headers: { 'x-sig': 'good', 'x-delivery': 'd-7' } },
  { name: 'a gzip-encoded delivery', body: gzipSync('{"webhookEvent":"jira:issue_created"}'), headers: { 'x-sig': 'good', 'x-delivery': 'd-8', 'content-encoding': 'gzip' } },
  { name: 'a query string on the door', path: '/webhooks/jira?from=test', body: '{}', headers: { 'x-sig': 'good', 'x-delivery': 'd-9' } },
];

test('the door ahead of Express answers every kind of delivery exactly as the door inside Express does', async (t) => {
  const deps = { adapters: { jira: stubAdapter }, logger: createLogger('silent'), metrics: new Metrics(), limit: '1kb' };
  const inside = memoryQueues();
  const ahead = memoryQueues();
  const insideDoor = new WebhookDoor({ ...deps, queues: inside.queues });
  const aheadDoor = new WebhookDoor({ ...deps, queues: ahead.queues });
  const viaExpress = await listen(t, appWith(insideDoor, []));
  const seen: string[] = [];
  const viaDoor = await listen(t, aheadDoor.ahead(appWith(aheadDoor, seen)));
  for (const c of CASES) {
    const want = await post(viaExpress, c.path ?? '/webhooks/jira', c.body, c.headers);
    const got = await post(viaDoor, c.path ?? '/webhooks/jira', c.body, c.headers);
    assert.deepEqual(got, want, c.name);
  }
  assert.deepEqual(
    ahead.queued.map((q) => [q.deliveryId, q.body, q.headers['x-delivery']]),
    inside.queued.map((q) => [q.deliveryId, q.body, q.headers['x-delivery']]),
  );
  assert.deepEqual(inside.queued.map((q) => q.deliveryId), ['d-1', 'd-8', 'd-9']);
  // Only what the door does not serve itself reached Express: the disabled surface and the encoded body.
  assert.deepEqual(seen, ['POST /webhooks/servicenow', 'POST /webhooks/jira']);
});

test('the door ahead of Express counts its requests under the route Express gives it', async (t) => {
  const metrics = new Metrics();
  const { queues } = memoryQueues();
  const door = new WebhookDoor({ adapters: { jira: stubAdapter }, queues, logger: createLogger('silent'), metrics });
  const base = await listen(t, door.ahead(appWith(door, [])));
  assert.equal((await post(base, '/webhooks/jira', '{}', { 'x-sig': 'good', 'x-delivery': 'm-1' })).status, 202);
  assert.equal((await post(base, '/webhooks/jira', '{}', { 'x-sig': 'bad', 'x-delivery': 'm-2' })).status, 401);
  const text = metrics.render();
  assert.match(text, /ts_http_request_duration_seconds_count\{method="POST",route="\/webhooks\/:surface",status="202"\} 1/);
  assert.match(text, /ts_http_request_duration_seconds_count\{method="POST",route="\/webhooks\/:surface",status="401"\} 1/);
  assert.match(text, /ts_webhooks_accepted_total\{surface="jira"\} 1/);
});

test('body limits read as body-parser reads them', () => {
  assert.equal(byteLimit(undefined), 1024 * 1024);
  assert.equal(byteLimit('1mb'), 1024 * 1024);
  assert.equal(byteLimit('100kb'), 100 * 1024);
  assert.equal(byteLimit('512'), 512);
  assert.equal(byteLimit('1.5KB'), 1536);
  assert.throws(() => byteLimit('lots'), TypeError);
});
