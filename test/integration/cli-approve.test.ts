import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { main, type CliIo } from '../../src/cli.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { startRuntime, type Runtime } from '../../src/runtime.ts';
import { waitFor } from '../../src/demo/story-steps.ts';
import type { Request } from '../../src/engine/model.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// A qa environment that needs one platform approver and has no change window, so whether the
// approval applies at once does not depend on the hour the test runs (the CLI uses the real clock).
const POLICY = `version: 1
approval_ttl: 24h
time_zone: Europe/Berlin
environments:
  - name: qa
    match: { names: [qa] }
    requesters: anyone
    approvals: { groups: [platform-approvers], count: 1 }
`;

const redis = useRedis();
let dir: string;
let env: NodeJS.ProcessEnv;
let runtime: Runtime;
const ctx = { actor: 'platform-admin', surface: 'cli' as const };

before(async () => {
  await redis.ready();
  dir = mkdtempSync(join(tmpdir(), 'cli-approve-'));
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  // The redis-cache bundle makes its ACL user on the server ops point it at: this test's Redis.
  process.env.TS_TARGET_REDIS_URL = redis.url;
  // The users are those of examples/directory.yaml (the default DIRECTORY_FILE).
  env = { REDIS_URL: redis.url, REDIS_PREFIX: `${uniqueName('cliapprove')}:`, LOG_LEVEL: 'silent', DATA_DIR: join(dir, 'data'), POLICY_FILE: join(dir, 'policy.yaml') };
  // The service with its workers runs the apply the CLI's approval queues.
  runtime = await startRuntime({ config: loadConfig(env), logger: createLogger('silent'), http: false, workers: true });
  redis.cleanup(() => runtime.close());
  const { engine } = runtime.opened;
  await engine.createProject({ id: 'shop', name: 'Shop' }, ctx);
  await engine.createEnvironment({ project: 'shop', name: 'qa', labels: { production: false } }, ctx);
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI as the operating-system user `as` (the CLI acts only as the user running it). */
async function cli(args: string[], as?: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += `${t}\n`), err: (t) => void (err += `${t}\n`), env: { ...env, ...(as ? { USER: as } : {}) }, cwd: ROOT };
  const code = await main(args, io);
  return { code, out, err };
}

async function awaitingRequest(packageName: string, prefix: string): Promise<Request> {
  const submitted = await runtime.workflow.submit({
    kind: 'provision',
    actor: { id: 'dana', displayName: 'Dana Developer' },
    origin: { surface: 'cli', ref: `cli-${packageName}` },
    project: 'shop',
    bundle: 'redis-cache',
    answers: { request_environment: 'qa', request_package: packageName, key_prefix: prefix, access_level: 'read-write' },
  });
  return waitFor(async () => {
    const r = await runtime.opened.engine.requests.get(submitted.id);
    if (['failed', 'invalid', 'rejected'].includes(r.state)) throw new Error(`request ${r.state}: ${JSON.stringify(r.error ?? r.issues ?? r.decisions)}`);
    return r.state === 'awaiting_approval' ? r : undefined;
  }, 'the request awaiting approval', 30_000);
}

async function aclUser(name: string): Promise<unknown> {
  return redis.client().call('ACL', 'GETUSER', name);
}

test('ticket-surface approve: refused for the requester, an unknown, an inactive and an out-of-group user; counted for a platform approver, and the plan applies', { timeout: 90_000 }, async () => {
  const r = await awaitingRequest('sessions', 'shop-sessions');
  assert.equal(r.package, 'shop-qa-sessions');
  assert.equal(await aclUser('shop-qa-sessions'), null, 'nothing exists before the approval');

  const self = await cli(['approve', r.id], 'dana');
  assert.equal(self.code, 1);
  assert.match(self.out, /✘ Approval by Dana Developer not counted: the requester cannot approve their own request/);

  const unknown = await cli(['approve', r.id], 'mallory');
  assert.equal(unknown.code, 1);
  assert.match(unknown.out, /✘ Approval by mallory not counted: the directory does not know this user/);

  const inactive = await cli(['approve', r.id], 'former');
  assert.equal(inactive.code, 1);
  assert.match(inactive.out, /not counted: Former Approver is not an active user/);

  // Pat is a release manager, which qa does not ask for.
  const outsider = await cli(['approve', r.id], 'pat');
  assert.equal(outsider.code, 1);
  assert.match(outsider.out, /not counted: not in platform-approvers/);

  let now = await runtime.opened.engine.requests.get(r.id);
  assert.equal(now.state, 'awaiting_approval');
  assert.deepEqual(now.approvals, []);
  assert.equal(await aclUser('shop-qa-sessions'), null, 'refused approvals applied nothing');

  // The CLI acts as the user running it: --as cannot make pat act as the approver bo.
  const impersonation = await cli(['approve', r.id, '--as', 'bo'], 'pat');
  assert.equal(impersonation.code, 2);
  assert.match(impersonation.err, /--as is not accepted: the CLI acts as the operating-system user "pat"/);
  assert.deepEqual((await runtime.opened.engine.requests.get(r.id)).approvals, []);

  const ok = await cli(['approve', r.id], 'bo');
  assert.equal(ok.code, 0, ok.out + ok.err);
  assert.match(ok.out, /✔ Approved by Bo Approver \(platform-approvers\) for plan [0-9a-f]{7}\./);
  assert.match(ok.out, /Request is approved\./);

  now = await waitFor(async () => {
    const x = await runtime.opened.engine.requests.get(r.id);
    return x.state === 'applied' || x.state === 'failed' ? x : undefined;
  }, 'the apply', 60_000);
  assert.equal(now.state, 'applied', JSON.stringify(now.error));
  assert.equal(now.approvals.length, 1);
  assert.equal(now.approvals[0]!.by.id, 'bo');
  assert.equal(now.approvals[0]!.surface, 'cli');
  assert.equal(now.approvals[0]!.planHash, r.plan!.hash);
  assert.ok(await aclUser('shop-qa-sessions'), 'the ACL user exists after the approved apply');

  // Every attempt is audited with the surface named.
  const audit = (await runtime.opened.engine.listAudit({ limit: 1000 })).filter((e) => e.request === r.id && e.action.startsWith('request.appro'));
  assert.deepEqual(
    audit.map((e) => [e.action, e.actor, e.surface]),
    [
      ['request.approval_refused', 'dana', 'cli'],
      ['request.approval_refused', 'mallory', 'cli'],
      ['request.approval_refused', 'former', 'cli'],
      ['request.approval_refused', 'pat', 'cli'],
      ['request.approve', 'bo', 'cli'],
    ],
  );
  const refusedUnknown = audit.find((e) => e.actor === 'mallory')!;
  assert.match(JSON.stringify(refusedUnknown.after), /does not know this user/);
});

test('ticket-surface approve on a request that is no longer awaiting approval is refused and audited', { timeout: 60_000 }, async () => {
  const r = await awaitingRequest('carts', 'shop-carts');
  assert.equal((await cli(['reject', r.id, '--note', 'not this sprint'], 'ari')).code, 0);
  const late = await cli(['approve', r.id], 'bo');
  assert.equal(late.code, 1);
  assert.match(late.out, /not counted: the request is rejected, not awaiting approval/);
  assert.equal((await runtime.opened.engine.requests.get(r.id)).state, 'rejected');
  assert.equal(await aclUser('shop-qa-carts'), null);
  const audit = (await runtime.opened.engine.listAudit({ limit: 1000 })).filter((e) => e.request === r.id && e.action === 'request.approval_refused');
  assert.equal(audit.length, 1);
  assert.equal(audit[0]!.surface, 'cli');
});
