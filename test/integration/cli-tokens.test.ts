/**
 * The admin's command-line tools: `token create|list|revoke` and `package show --reveal`. The
 * CLI acts as the operating-system user ($USER), as examples/directory.yaml maps them: quinn is
 * the platform admin, dana a requester, mallory nobody.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { apiClient } from '../helpers/api-tokens.ts';
import { writeProbeFixtures } from '../helpers/secrets.ts';
import { main, type CliIo } from '../../src/cli.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { startRuntime, type Runtime } from '../../src/runtime.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const redis = useRedis();
let dir: string;
let env: NodeJS.ProcessEnv;
let runtime: Runtime;
let url: string;
const canary = `canary-${randomBytes(12).toString('hex')}`;

before(async () => {
  await redis.ready();
  dir = mkdtempSync(join(tmpdir(), 'cli-tokens-'));
  const { bundlePath, policyFile } = await writeProbeFixtures(dir);
  env = { REDIS_URL: redis.url, REDIS_PREFIX: `${uniqueName('clitokens')}:`, LOG_LEVEL: 'silent', DATA_DIR: join(dir, 'data'), BUNDLE_PATH: bundlePath, POLICY_FILE: policyFile };
  runtime = await startRuntime({ config: loadConfig({ ...env, PORT: '0' }), logger: createLogger('silent'), http: true, workers: false });
  redis.cleanup(() => runtime.close());
  url = runtime.url!;
  const { engine } = runtime.opened;
  const ctx = { actor: 'platform-admin', surface: 'cli' as const };
  await engine.createProject({ id: 'checkout', name: 'Checkout' }, ctx);
  await engine.createEnvironment({ project: 'checkout', name: 'dev', labels: { production: false } }, ctx);
  await engine.createPackage({ project: 'checkout', environment: 'dev', name: 'probe', bundle: 'secret-probe', params: { label: 'probe', api_secret: canary } }, ctx);
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI as the operating-system user `user`. */
async function cli(args: string[], user: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += `${t}\n`), err: (t) => void (err += `${t}\n`), env: { ...env, USER: user }, cwd: ROOT };
  const code = await main(args, io);
  return { code, out, err };
}

async function auditOf(subject: { type: string; id: string }) {
  return runtime.opened.engine.listAudit({ subject, limit: 100 });
}

test('an admin creates a token on the command line: printed once, it authenticates on the API; list never shows a secret; revoke makes it 401', async () => {
  const created = await cli(['token', 'create', '--person', 'dana', '--role', 'requester', '--name', 'laptop'], 'quinn');
  assert.equal(created.code, 0, created.err);
  const token = /^tsk_\S+$/m.exec(created.out)?.[0];
  assert.ok(token, created.out);
  const id = /API token (tk[0-9a-f]{10}) created for dana \(requester\)/.exec(created.out)?.[1];
  assert.ok(id, created.out);
  const dana = apiClient(url, token);
  assert.equal((await dana.get('/v1/bundles')).status, 200);
  const filed = await dana.post('/v1/projects', { id: 'not-hers' });
  assert.equal(filed.status, 403, 'the token acts as Dana, with her role');

  for (const args of [['token', 'list'], ['token', 'list', '--json'], ['token', 'list', '--all', '--person', 'dana']]) {
    const listed = await cli(args, 'quinn');
    assert.equal(listed.code, 0, listed.err);
    assert.ok(listed.out.includes(id), `${args.join(' ')} lists ${id}`);
    assert.equal(listed.out.includes(token), false, 'no token text');
    assert.equal(listed.out.includes(token.slice(-43)), false, 'nor its secret part');
    assert.equal(listed.out.includes(createHash('sha256').update(token).digest('hex')), false, 'nor its hash');
    assert.doesNotMatch(listed.out, /tsk_|sha256/);
  }

  const revoked = await cli(['token', 'revoke', id, '--note', 'laptop lost'], 'quinn');
  assert.equal(revoked.code, 0, revoked.err);
  assert.match(revoked.out, new RegExp(`API token ${id} of dana revoked`));
  const refused = await dana.get('/v1/bundles');
  assert.equal(refused.status, 401);
  assert.match(refused.data.error.message, new RegExp(`API token ${id} was revoked`));
  assert.equal((await cli(['token', 'list'], 'quinn')).out.includes(id), false, 'a revoked token is listed only with --all');
  assert.match((await cli(['token', 'list', '--all'], 'quinn')).out, new RegExp(`${id} .* revoked .* by quinn`));

  const audit = await auditOf({ type: 'api-token', id });
  assert.deepEqual(audit.map((e) => [e.action, e.actor, e.surface]), [['token.create', 'quinn', 'cli'], ['token.revoke', 'quinn', 'cli']]);
  assert.equal(audit[1]!.reason, 'laptop lost');
  assert.equal(JSON.stringify(audit).includes(token.slice(-43)), false, 'the audit log never holds the secret');
});

test('someone who is not an admin is refused every token command, naming the role; the refusal is audited and no token is made', async () => {
  const before = (await runtime.tokens.list(runtime.authorizer.cliPrincipal('quinn'), { includeRevoked: true })).length;
  for (const args of [['token', 'create', '--person', 'dana', '--role', 'requester'], ['token', 'list'], ['token', 'revoke', 'tk0123456789']]) {
    const r = await cli(args, 'dana');
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.out}`);
    assert.match(r.err, /managing API tokens needs the admin role; Dana Developer holds requester/);
    assert.doesNotMatch(r.out, /tsk_/);
  }
  const refusals = (await auditOf({ type: 'action', id: 'token.manage' })).filter((e) => e.action === 'authz.refused' && e.actor === 'dana');
  assert.equal(refusals.length, 3);
  assert.ok(refusals.every((e) => e.surface === 'cli' && (e.after as { person: string }).person === 'dana'));
  assert.equal((await runtime.tokens.list(runtime.authorizer.cliPrincipal('quinn'), { includeRevoked: true })).length, before);

  const stranger = await cli(['token', 'list'], 'mallory');
  assert.equal(stranger.code, 1);
  assert.match(stranger.err, /the directory lists no person with CLI user "mallory"/);
});

test('token create: a bad line is exit 2 with the usage; a role the person does not hold, or an unknown person, is exit 1 saying which', async () => {
  const usage = await cli(['token', 'create', '--person', 'dana'], 'quinn');
  assert.equal(usage.code, 2);
  assert.match(usage.err, /usage: ticket-surface token create --person <id> --role <reader\|requester\|approver\|admin>/);
  const notHeld = await cli(['token', 'create', '--person', 'dana', '--role', 'admin'], 'quinn');
  assert.equal(notHeld.code, 1);
  assert.match(notHeld.err, /Dana Developer does not hold the admin role/);
  const ghost = await cli(['token', 'create', '--person', 'ghost', '--role', 'reader'], 'quinn');
  assert.equal(ghost.code, 1);
  assert.match(ghost.err, /the directory lists no person "ghost"/);
  const badDate = await cli(['token', 'create', '--person', 'erin', '--role', 'reader', '--expires', 'soon'], 'quinn');
  assert.equal(badDate.code, 1);
  assert.match(badDate.err, /--expires soon: expected an ISO 8601 date/);
  const dated = await cli(['token', 'create', '--person', 'erin', '--role', 'reader', '--expires', '2099-01-31T18:00:00Z', '--json'], 'quinn');
  assert.equal(dated.code, 0, dated.err);
  assert.equal(JSON.parse(dated.out).record.expiresAt, '2099-01-31T18:00:00.000Z');
});

test('package show --reveal shows the secrets to an admin only; the reading names who and which package, never the values; a refusal is audited', async () => {
  const masked = await cli(['package', 'show', 'checkout-dev-probe', '--json'], 'dana');
  assert.equal(masked.code, 0, masked.err);
  assert.equal(masked.out.includes(canary), false, 'without --reveal the secret is masked');
  assert.equal(JSON.parse(masked.out).desiredParams.api_secret, '[sensitive]');

  const refused = await cli(['package', 'show', 'checkout-dev-probe', '--reveal'], 'dana');
  assert.equal(refused.code, 1);
  assert.match(refused.err, /revealing secrets needs the admin role; Dana Developer holds requester/);
  assert.equal(refused.out.includes(canary) || refused.err.includes(canary), false);

  const revealed = await cli(['package', 'show', 'checkout-dev-probe', '--reveal', '--json'], 'quinn');
  assert.equal(revealed.code, 0, revealed.err);
  assert.equal(JSON.parse(revealed.out).desiredParams.api_secret, canary);

  const events = await auditOf({ type: 'package', id: 'checkout-dev-probe' });
  const refusal = events.find((e) => e.action === 'authz.refused');
  assert.ok(refusal, 'the refusal is audited');
  assert.equal(refusal.actor, 'dana');
  assert.deepEqual(refusal.after, { action: 'secrets.reveal', needs: 'the admin role', person: 'dana' });
  const reveals = events.filter((e) => e.action === 'package.reveal');
  assert.deepEqual(reveals.map((e) => [e.actor, e.surface, (e.after as { person: string }).person]), [['quinn', 'cli', 'quinn']]);
  assert.equal(JSON.stringify(events).includes(canary), false, 'the audit log never holds the revealed values');
});
