/**
 * Decoding a Jira issue's fields into answers maps every field id back to its form key through
 * the surface-id store in one Redis command, however many fields the issue has (no HGET per field).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { SurfaceIdStore } from '../../src/engine/surface-ids.ts';
import type { Form } from '../../src/forms/index.ts';
import type { SurfaceEvent } from '../../src/surfaces/shared/surface-event.ts';
import type { TicketInput } from '../../src/surfaces/shared/ticket-handler.ts';
import { JiraSurface, type JiraSurfaceDeps } from '../../src/surfaces/jira/adapter.ts';

const redis = useRedis();
let client: Redis;
let ids: SurfaceIdStore;

before(async () => {
  await redis.ready();
  client = redis.client();
  ids = new SurfaceIdStore(client, `${uniqueName('decode')}:`);
});

/** How many times Redis has run each command so far (from INFO commandstats). */
async function commandCounts(): Promise<Record<string, number>> {
  const info = await client.info('commandstats');
  const counts: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) counts[m[1]!] = Number(m[2]);
  return counts;
}

test('an issue with many fields is decoded with one HMGET and no HGET', async () => {
  const names = Array.from({ length: 20 }, (_, i) => `answer_${i}`);
  for (const [i, name] of names.entries()) await ids.set('jira', `orders-db/${name}`, `customfield_${10100 + i}`);
  const form = { bundle: 'orders-db', fields: names.map((name) => ({ name, type: 'string', title: name })) } as unknown as Form;
  const fields: Record<string, unknown> = { summary: 'orders db', project: { key: 'INFRA' } };
  for (const [i, name] of names.entries()) fields[`customfield_${10100 + i}`] = `value of ${name}`;
  const jira = new JiraSurface({
    ids,
    engine: { inventory: { audit: {} } },
    forms: { form: async () => form },
    client: { api: async () => ({ fields }) },
    config: { projects: {} },
    baseUrl: 'https://jira.example',
  } as unknown as JiraSurfaceDeps);
  const event = { ref: 'INFRA-1', issueType: 'Request', fields: {} } as unknown as SurfaceEvent;
  const project = { project: 'checkout', issueTypes: { Request: { bundle: 'orders-db' } } };

  const before = await commandCounts();
  const decode = (jira as unknown as { intakeInput(e: SurfaceEvent, p: unknown): Promise<TicketInput | undefined> }).intakeInput.bind(jira);
  const input = await decode(event, project);
  const after = await commandCounts();

  assert.equal(input?.bundle, 'orders-db');
  assert.equal(Object.keys(input?.answers ?? {}).length, names.length);
  assert.equal(input?.answers['answer_7'], 'value of answer_7');
  assert.equal((after['hget'] ?? 0) - (before['hget'] ?? 0), 0, 'no HGET per field');
  assert.equal((after['hmget'] ?? 0) - (before['hmget'] ?? 0), 1, 'one HMGET for all the fields');
});

test('keysOf answers in the order asked, undefined for unknown ids, and sends nothing for none', async () => {
  await ids.set('jira', 'a/x', 'customfield_1');
  await ids.set('jira', 'a/y', 'customfield_2');
  assert.deepEqual(await ids.keysOf('jira', ['customfield_2', 'summary', 'customfield_1']), ['a/y', undefined, 'a/x']);
  const before = await commandCounts();
  assert.deepEqual(await ids.keysOf('jira', []), []);
  assert.equal((await commandCounts())['hmget'] ?? 0, before['hmget'] ?? 0);
});
