import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { ConfigError } from '../../src/engine/errors.ts';
import { Inventory } from '../../src/engine/inventory.ts';
import { KEY_FILE, SealedValueError, SecretBox, keyIdOf, loadSecretBox } from '../../src/engine/secret-box.ts';
import { loadConfig } from '../../src/config.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const redis = useRedis();
const temp = mkdtempSync(join(tmpdir(), 'secrets-keys-'));
after(() => rmSync(temp, { recursive: true, force: true }));
const ctx = { actor: 'ops', surface: 'cli' as const };

/** Runs the service entry point until it exits; the configuration check happens before anything starts. */
function runMain(env: NodeJS.ProcessEnv): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => resolve({ code, err }));
  });
}

test('NODE_ENV=production without SECRETS_KEY refuses to start with one line naming the variable; a bad key is named, never echoed', async () => {
  const missing = await runMain({ NODE_ENV: 'production', DATA_DIR: join(temp, 'prod') });
  assert.equal(missing.code, 2);
  assert.equal(missing.err.trim(), 'configuration error: SECRETS_KEY: required when NODE_ENV=production (openssl rand -base64 32)');
  const bad = 'not-a-key-but-a-secret-nonetheless';
  assert.throws(() => loadConfig({ SECRETS_KEY: bad }), (err: unknown) => err instanceof ConfigError && err.variable === 'SECRETS_KEY' && !err.message.includes(bad));
  assert.throws(() => loadConfig({ SECRETS_KEY: randomBytes(32).toString('base64'), SECRETS_KEYS_OLD: `${randomBytes(32).toString('base64')},${bad}` }), (err: unknown) => err instanceof ConfigError && err.variable === 'SECRETS_KEYS_OLD' && !err.message.includes(bad));
  const good = loadConfig({ NODE_ENV: 'production', SECRETS_KEY: randomBytes(32).toString('base64'), SECRETS_KEYS_OLD: `${randomBytes(32).toString('base64')}, ${randomBytes(32).toString('base64')}` });
  assert.equal(good.SECRETS_KEYS_OLD.length, 2);
});

test('without a key, development generates one in DATA_DIR (0600, announced once) that every process then shares', async () => {
  const dataDir = join(temp, 'dev');
  const announced: string[] = [];
  const boxes = await Promise.all([1, 2, 3, 4].map(() => loadSecretBox({ dataDir, onGenerated: (p) => announced.push(p) })));
  assert.deepEqual(announced, [join(dataDir, KEY_FILE)]);
  assert.equal(statSync(join(dataDir, KEY_FILE)).mode & 0o777, 0o600);
  assert.equal(new Set(boxes.map((b) => b.keyId)).size, 1, 'processes starting together agree on one key');
  const again = await loadSecretBox({ dataDir, onGenerated: (p) => announced.push(p) });
  assert.equal(again.keyId, boxes[0]!.keyId);
  assert.equal(announced.length, 1);
  assert.deepEqual(again.open(boxes[2]!.seal({ password: 'x' })), { password: 'x' });
});

/** An inventory with one package in it, on its own prefix. */
async function inventoryWith(box: SecretBox, prefix = `${uniqueName('keys')}:`): Promise<Inventory> {
  const inv = new Inventory({ redis: redis.client(), prefix, secretBox: box });
  return inv;
}

test('rotation: the current key seals, old keys still open, a write re-seals with the current key; unknown or damaged values fail loudly', async () => {
  const keyA = randomBytes(32);
  const keyB = randomBytes(32);
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const prefix = `${uniqueName('keys')}:`;
  const a = await inventoryWith(new SecretBox(keyA), prefix);
  await a.createProject({ name: 'checkout' }, ctx);
  await a.createEnvironment({ project: 'checkout', name: 'dev' }, ctx);
  const pkg = await a.createPackage({ environment: 'checkout-dev', name: 'db', bundle: 'postgres-database', version: '1.0.0', desiredParams: { note: 'enc:v1:looks:sealed:but:is-not' } }, ctx);
  await a.update('package', pkg.id, 1, (d) => void (d.artifacts = { authentication: { data: { authentication: { password } } } }), ctx);
  const raw = async () => (await redis.client().hget(`${prefix}rec:package`, pkg.id))!;
  assert.ok(!(await raw()).includes(password));
  assert.ok((await raw()).includes(`enc:v1:${keyIdOf(keyA)}:`));

  const b = await inventoryWith(new SecretBox(keyB, [keyA]), prefix);
  const read = await b.get('package', pkg.id);
  assert.equal((read.artifacts.authentication!.data as { authentication: { password: string } }).authentication.password, password);
  assert.equal(read.desiredParams.note, 'enc:v1:looks:sealed:but:is-not', "a person's text that looks sealed comes back as written");
  await b.modify('package', pkg.id, (d) => void (d.costMonthly = 1), ctx);
  assert.ok((await raw()).includes(`enc:v1:${keyIdOf(keyB)}:`));
  assert.ok(!(await raw()).includes(keyIdOf(keyA)), 'the write re-sealed everything with the current key');

  const onlyA = await inventoryWith(new SecretBox(keyA), prefix);
  await assert.rejects(onlyA.get('package', pkg.id), SealedValueError);
  const sealed = new SecretBox(keyB).seal('value');
  const damaged = sealed.slice(0, -4) + (sealed.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  assert.throws(() => new SecretBox(keyB).open(damaged), SealedValueError);
});
