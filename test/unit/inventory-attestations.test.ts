import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { AttestationStore, compareVersions } from '../../src/engine/attestations.ts';
import { AuditLog, type AuditContext } from '../../src/engine/audit.ts';
import { NotFoundError, ValidationError } from '../../src/engine/errors.ts';

const redis = useRedis();
const ctx: AuditContext = { actor: 'qa-lead', surface: 'cli' };

function newStore(exists?: (b: string, v: string) => boolean | Promise<boolean>): AttestationStore {
  let t = Date.parse('2026-11-20T09:00:00Z');
  return new AttestationStore({ redis: redis.client(), prefix: `${uniqueName('att')}:`, clock: { now: () => new Date((t += 60_000)) }, ...(exists ? { exists } : {}) });
}

test('versions order like semver, prereleases before their release', () => {
  const sorted = ['1.10.0', '1.2.0', '2.0.0-rc.1', '2.0.0', '1.2.0-beta.2', '1.2.0-beta.10', '0.9.9'].sort(compareVersions);
  assert.deepEqual(sorted, ['0.9.9', '1.2.0-beta.2', '1.2.0-beta.10', '1.2.0', '1.10.0', '2.0.0-rc.1', '2.0.0']);
});

test('attest, list, versionsWith newest first with who and when, revoke; all audited', async () => {
  const store = newStore();
  await store.attest('checkout-api', '2.13.2', 'qa-signed', 'tess', ctx);
  const signed = await store.attest('checkout-api', '2.14.0', 'qa-signed', 'quinn', ctx, 'regression suite green');
  await store.attest('checkout-api', '2.9.0', 'qa-signed', 'tess', ctx);
  await store.attest('checkout-api', '2.14.0', 'security-reviewed', 'sam', ctx);
  await store.attest('other-app', '9.9.9', 'qa-signed', 'tess', ctx);
  assert.deepEqual(signed, { kind: 'qa-signed', by: 'quinn', at: signed.at, note: 'regression suite green' });

  const versions = await store.versionsWith('checkout-api', 'qa-signed');
  assert.deepEqual(versions.map((v) => [v.version, v.by]), [
    ['2.14.0', 'quinn'],
    ['2.13.2', 'tess'],
    ['2.9.0', 'tess'],
  ]);
  assert.ok(versions.every((v) => !Number.isNaN(Date.parse(v.at))));
  assert.deepEqual((await store.list('checkout-api', '2.14.0')).map((a) => a.kind), ['qa-signed', 'security-reviewed']);
  assert.equal((await store.list('checkout-api')).length, 4);

  await store.revoke('checkout-api', '2.14.0', 'qa-signed', { actor: 'release-manager', surface: 'jira' }, 'flaky payments test');
  assert.deepEqual((await store.versionsWith('checkout-api', 'qa-signed')).map((v) => v.version), ['2.13.2', '2.9.0']);
  assert.equal(await store.get('checkout-api', '2.14.0', 'qa-signed'), undefined);
  await assert.rejects(store.revoke('checkout-api', '2.14.0', 'qa-signed', ctx), NotFoundError);

  const events = await store.audit.list({ subject: { type: 'bundle-version', id: 'checkout-api@2.14.0' } });
  assert.deepEqual(events.map((e) => [e.action, e.actor]), [
    ['bundle.attest', 'qa-lead'],
    ['bundle.attest', 'qa-lead'],
    ['bundle.revoke', 'release-manager'],
  ]);
  assert.equal(events[2]!.reason, 'flaky payments test');
  assert.equal((events[2]!.before as { by: string }).by, 'quinn');
  assert.deepEqual(await store.audit.verify(), { ok: true, count: 6 }, '5 attests + 1 revoke; the refused revoke wrote nothing');
});

test('re-attesting replaces the earlier attestation and audits the one it replaced', async () => {
  const store = newStore();
  const first = await store.attest('checkout-api', '1.0.0', 'qa-signed', 'tess', ctx);
  await store.attest('checkout-api', '1.0.0', 'qa-signed', 'quinn', ctx);
  assert.equal((await store.get('checkout-api', '1.0.0', 'qa-signed'))!.by, 'quinn');
  const last = (await store.audit.list({ order: 'desc', limit: 1 }))[0]!;
  assert.deepEqual(last.before, first);
});

test('the registry check refuses unknown versions; bad input names the field', async () => {
  const known = new Set(['checkout-api@1.0.0']);
  const store = newStore(async (b, v) => known.has(`${b}@${v}`));
  await store.attest('checkout-api', '1.0.0', 'qa-signed', 'tess', ctx);
  await assert.rejects(store.attest('checkout-api', '1.0.1', 'qa-signed', 'tess', ctx), (e: unknown) => e instanceof NotFoundError && e.id === 'checkout-api@1.0.1');
  await assert.rejects(store.attest('checkout-api', '1.0.0', 'QA signed', 'tess', ctx), (e: unknown) => e instanceof ValidationError && e.issues[0]!.field === 'kind');
  await assert.rejects(store.attest('checkout-api', '', 'qa-signed', 'tess', ctx), (e: unknown) => e instanceof ValidationError && e.issues[0]!.field === 'version');
  await assert.rejects(store.attest('checkout-api', '1.0.0', 'qa-signed', '', ctx), (e: unknown) => e instanceof ValidationError && e.issues[0]!.field === 'by');
  assert.equal((await store.audit.head()).seq, 1, 'refused attestations write nothing');
});

test('attestations share the audit chain with whatever else writes under the same prefix', async () => {
  const prefix = `${uniqueName('att')}:`;
  const c = redis.client();
  const audit = new AuditLog({ redis: c, prefix });
  const store = new AttestationStore({ redis: c, prefix, audit });
  await audit.append({ actor: 'x', surface: 'engine', action: 'other.thing', subject: { type: 't', id: '1' } });
  await store.attest('b', '1.0.0', 'qa-signed', 'tess', ctx);
  assert.deepEqual((await audit.list()).map((e) => e.action), ['other.thing', 'bundle.attest']);
  assert.deepEqual(await audit.verify(), { ok: true, count: 2 });
});
