/**
 * `ticket-surface request stuck` lists requests waiting in a state the engine moves on from
 * with no job and no outbox entry for them, past a bound: what an operator (or a monitor, by
 * its exit code) looks at after a crash. It only reads; the workers' sweep resumes them.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { main, type CliIo } from '../../src/cli.ts';
import { loadConfig } from '../../src/config.ts';
import { openEngine, type OpenedEngine } from '../../src/workflow/bootstrap.ts';

const redis = useRedis();
let env: NodeJS.ProcessEnv;
let opened: OpenedEngine;
before(async () => {
  await redis.ready();
  env = { REDIS_URL: redis.url, REDIS_PREFIX: `${uniqueName('stuck')}:`, LOG_LEVEL: 'silent', USER: 'quinn' };
  opened = await openEngine(loadConfig(env));
});
after(async () => opened.close());

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += `${t}\n`), err: (t) => void (err += `${t}\n`), env, cwd: process.cwd() };
  return { code: await main(args, io), out, err };
}

test('request stuck names a request left validated without an owner, and exits 1 while there is one', async () => {
  const { requests } = opened.engine;
  let r = await requests.createRequest({
    kind: 'provision',
    actor: { id: 'dana' },
    origin: { surface: 'cli', ref: 'cli-stuck-1' },
    project: 'shop',
    environment: 'qa',
    bundle: 'redis-cache',
    submitted: { environment: 'qa', package: 'stuck-cache' },
  });
  r = await requests.transition(r.id, r.revision, 'validated', { by: 'engine' });

  const young = await cli(['request', 'stuck']);
  assert.equal(young.code, 0, young.err);
  assert.match(young.out, /^no request has waited longer than 2m without an owner$/m);

  const listed = await cli(['request', 'stuck', '--older-than', '0m']);
  assert.equal(listed.code, 1, listed.err);
  assert.match(listed.out, new RegExp(`^${r.id} {2}validated {2}waiting .+ {2}redis-cache in \\S+ {2}\\(cli cli-stuck-1\\)$`, 'm'));
  const json = await cli(['request', 'stuck', '--older-than', '0m', '--json']);
  assert.deepEqual(JSON.parse(json.out).map((s: { id: string; state: string }) => [s.id, s.state]), [[r.id, 'validated']]);
  assert.equal((await requests.get(r.id)).state, 'validated', 'listing resumes nothing');
});

test('request stuck refuses a bound that is not a duration, naming the option', async () => {
  const bad = await cli(['request', 'stuck', '--older-than', 'soon']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--older-than: "soon" is not a duration/);
});
