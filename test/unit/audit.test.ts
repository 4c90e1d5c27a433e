import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { sha256ProbeScript } from '../../src/engine/audit-lua.ts';
import {
  AuditLog,
  GENESIS_HASH,
  canonicalEventJson,
  computeEventHash,
  redactSensitive,
  redactSecretsByName,
  REDACTED,
  type AuditEventInput,
} from '../../src/engine/audit.ts';
import type { AuditEvent } from '../../src/engine/model.ts';

const redis = useRedis();

function newLog(): AuditLog {
  return new AuditLog({ redis: redis.client(), prefix: `${uniqueName('audit')}:` });
}

function event(i: number, extra: Partial<AuditEventInput> = {}): AuditEventInput {
  return {
    actor: `user-${i % 3}`,
    surface: i % 2 ? 'jira' : 'cli',
    action: 'package.update',
    subject: { type: 'package', id: `pkg-${i % 4}` },
    request: i % 5 === 0 ? `req_r${i}` : undefined,
    before: { costMonthly: i, tags: { b: 1, a: [i, 'x'] } },
    after: { costMonthly: i + 1, note: 'naïve ☃ "quoted"' },
    ...extra,
  };
}

async function appendMany(log: AuditLog, n: number): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for (let i = 1; i <= n; i++) out.push(await log.append(event(i)));
  return out;
}

test('the Lua SHA-256 used inside Redis agrees with node:crypto on every padding length and on UTF-8', async () => {
  const c = redis.client();
  for (let len = 0; len < 200; len++) {
    const bytes = randomBytes(len);
    assert.equal(await sha256ProbeScript.run(c, [], [bytes as unknown as string]), createHash('sha256').update(bytes).digest('hex'), `length ${len}`);
  }
  const text = 'äöü ☃ 𝄞'.repeat(50);
  assert.equal(await sha256ProbeScript.run(c, [], [text]), createHash('sha256').update(text, 'utf8').digest('hex'));
});

test('appended events are numbered, chained from 64 zeros and verify', async () => {
  const log = newLog();
  const events = await appendMany(log, 30);
  assert.deepEqual(events.map((e) => e.seq), Array.from({ length: 30 }, (_, i) => i + 1));
  assert.equal(events[0]!.prevHash, GENESIS_HASH);
  for (let i = 1; i < events.length; i++) assert.equal(events[i]!.prevHash, events[i - 1]!.hash);
  for (const e of events) {
    const { hash, ...rest } = e;
    assert.equal(hash, createHash('sha256').update(e.prevHash + canonicalEventJson(rest)).digest('hex'));
    assert.equal(hash, computeEventHash(rest));
  }
  // What the caller got back is exactly what is stored.
  assert.deepEqual(await log.get(7), events[6]);
  assert.deepEqual(await log.head(), { seq: 30, hash: events[29]!.hash });
  assert.deepEqual(await log.verify(), { ok: true, count: 30 });
});

test('an empty log verifies with count 0', async () => {
  assert.deepEqual(await newLog().verify(), { ok: true, count: 0 });
});

test('editing a field of event 5 directly in Redis is reported at seq 5', async () => {
  const log = newLog();
  const c = redis.client();
  await appendMany(log, 12);
  const raw = (await c.hget(log.eventsKey, '5'))!;
  const edited = JSON.parse(raw) as AuditEvent;
  edited.actor = 'someone-else';
  await c.hset(log.eventsKey, '5', JSON.stringify(edited));
  const result = await log.verify();
  assert.equal(result.ok, false);
  assert.equal(result.ok === false && result.seq, 5);
  assert.match(result.ok === false ? result.reason : '', /content/);
});

test('an edited event whose hash was recomputed breaks the link of the next event', async () => {
  const log = newLog();
  const c = redis.client();
  await appendMany(log, 10);
  const edited = JSON.parse((await c.hget(log.eventsKey, '4'))!) as AuditEvent;
  edited.after = { costMonthly: 0 };
  const { hash: _old, ...rest } = edited;
  edited.hash = computeEventHash(rest);
  await c.hset(log.eventsKey, '4', JSON.stringify(edited));
  const result = await log.verify();
  assert.deepEqual(result.ok === false && result.seq, 5);
  assert.match(result.ok === false ? result.reason : '', /link/);
});

test('a deleted event is reported at its seq, also when it was the last one', async () => {
  const log = newLog();
  const c = redis.client();
  await appendMany(log, 10);
  await c.hdel(log.eventsKey, '6');
  const result = await log.verify();
  assert.deepEqual(result.ok === false && [result.seq, /missing/.test(result.reason)], [6, true]);

  const tail = newLog();
  await appendMany(tail, 4);
  await c.hdel(tail.eventsKey, '4');
  const r2 = await tail.verify();
  assert.equal(r2.ok === false && r2.seq, 4);
});

test('swapping two events is reported at the first of them', async () => {
  const log = newLog();
  const c = redis.client();
  await appendMany(log, 8);
  const [three, four] = await c.hmget(log.eventsKey, '3', '4');
  await c.hset(log.eventsKey, '3', four!, '4', three!);
  const result = await log.verify();
  assert.equal(result.ok === false && result.seq, 3);
  assert.match(result.ok === false ? result.reason : '', /reordered/);
});

test('an event slipped in beyond the head, or a rewritten head, is detected', async () => {
  const log = newLog();
  const c = redis.client();
  const events = await appendMany(log, 5);
  await c.hset(log.eventsKey, '6', JSON.stringify({ ...events[4], seq: 6 }));
  const r1 = await log.verify();
  assert.equal(r1.ok === false && r1.seq, 6);

  const other = newLog();
  await appendMany(other, 5);
  await c.hset(other.headKey, 'hash', 'f'.repeat(64));
  const r2 = await other.verify();
  assert.equal(r2.ok === false && r2.seq, 5);
});

test('an append refuses to overwrite an event when the head was lost', async () => {
  const log = newLog();
  const c = redis.client();
  await appendMany(log, 3);
  await c.del(log.headKey);
  await assert.rejects(log.append(event(99)), /inconsistent/);
  assert.equal(JSON.parse((await c.hget(log.eventsKey, '1'))!).seq, 1);
  assert.equal(await c.hlen(log.eventsKey), 3);
});

test('50 concurrent appends from several connections get distinct consecutive seqs and verify', async () => {
  const prefix = `${uniqueName('audit')}:`;
  const logs = [0, 1, 2].map(() => new AuditLog({ redis: redis.client(), prefix }));
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => logs[i % 3]!.append(event(i))));
  assert.deepEqual(
    results.map((e) => e.seq).sort((a, b) => a - b),
    Array.from({ length: 50 }, (_, i) => i + 1),
  );
  const bySeq = new Map(results.map((e) => [e.seq, e]));
  for (let s = 2; s <= 50; s++) assert.equal(bySeq.get(s)!.prevHash, bySeq.get(s - 1)!.hash);
  assert.deepEqual(await logs[0]!.verify(), { ok: true, count: 50 });
});

test('list filters by subject, actor and request, pages with after/limit and orders both ways', async () => {
  const log = newLog();
  const events = await appendMany(log, 40);
  const bySubject = await log.list({ subject: { type: 'package', id: 'pkg-1' }, limit: 1000 });
  assert.deepEqual(
    bySubject.map((e) => e.seq),
    events.filter((e) => e.subject.id === 'pkg-1').map((e) => e.seq),
  );
  const byActorAndSubject = await log.list({ actor: 'user-2', subject: { type: 'package', id: 'pkg-1' }, limit: 1000 });
  assert.deepEqual(
    byActorAndSubject.map((e) => e.seq),
    events.filter((e) => e.actor === 'user-2' && e.subject.id === 'pkg-1').map((e) => e.seq),
  );
  assert.ok(byActorAndSubject.length > 0);
  const byRequest = await log.list({ request: 'req_r10' });
  assert.deepEqual(byRequest.map((e) => e.seq), [10]);

  const page1 = await log.list({ limit: 15 });
  const page2 = await log.list({ limit: 15, after: page1.at(-1)!.seq });
  assert.deepEqual([...page1, ...page2].map((e) => e.seq), Array.from({ length: 30 }, (_, i) => i + 1));
  const newest = await log.list({ order: 'desc', limit: 3 });
  assert.deepEqual(newest.map((e) => e.seq), [40, 39, 38]);
  const newestOfSubject = await log.list({ subject: { type: 'package', id: 'pkg-2' }, order: 'desc', limit: 2, before: 30 });
  assert.deepEqual(
    newestOfSubject.map((e) => e.seq),
    events.filter((e) => e.subject.id === 'pkg-2' && e.seq < 30).map((e) => e.seq).reverse().slice(0, 2),
  );
});

test('secret-looking values never reach Redis; pointer redaction replaces exactly the named values', async () => {
  const log = newLog();
  const c = redis.client();
  const secret = `s3cret-${randomBytes(6).toString('hex')}`;
  const stored = await log.append({
    actor: 'ops',
    surface: 'cli',
    action: 'package.update',
    subject: { type: 'package', id: 'p' },
    after: { desiredParams: { admin_password: secret, apiToken: secret, size: 3 }, fencingToken: 7 },
  });
  const raw = JSON.stringify(await c.hgetall(log.eventsKey));
  assert.ok(!raw.includes(secret), 'secret must not be stored');
  assert.deepEqual(stored.after, { desiredParams: { admin_password: REDACTED, apiToken: REDACTED, size: 3 }, fencingToken: 7 });
  assert.deepEqual(await log.verify(), { ok: true, count: 1 });

  const artifact = { data: { authentication: { host: 'h', password: 'pw' } }, users: [{ name: 'a', key: 'k1' }, { name: 'b', key: 'k2' }] };
  assert.deepEqual(redactSensitive(artifact, ['/data/authentication/password', '/users/*/key', '/nope/x']), {
    data: { authentication: { host: 'h', password: REDACTED } },
    users: [
      { name: 'a', key: REDACTED },
      { name: 'b', key: REDACTED },
    ],
  });
  assert.equal(artifact.data.authentication.password, 'pw', 'the input is left alone');
  assert.deepEqual(redactSecretsByName({ client_secret: { v: 1 }, secrets_count: 2 }), { client_secret: REDACTED, secrets_count: 2 });
});

test('events must name an actor, surface, action and subject', async () => {
  const log = newLog();
  await assert.rejects(log.append({ ...event(1), actor: '' }), (err: Error & { issues?: { pointer: string }[] }) => err.issues?.[0]?.pointer === '/actor');
  await assert.rejects(log.append({ ...event(1), subject: { type: 'package', id: '' } }), /subject\.id/);
});
