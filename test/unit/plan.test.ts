import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DeploymentFailedError } from '../../src/engine/errors.ts';
import { canonicalJson, classifyActions, combineStepPlans, parsePlanJson, planHash, summarizePlan } from '../../src/engine/plan.ts';

const recorded = (name: string): string =>
  readFileSync(new URL(`../fixtures/opentofu/recorded/${name}`, import.meta.url), 'utf8');
const parse = (name: string) => parsePlanJson(recorded(name), { step: 'src' });

test('summarises the recorded terraform-json basic plan: 7 creates, 1 data read, nothing destructive', () => {
  const s = summarizePlan(parse('terraform-json-basic.plan.json'));
  assert.equal(s.add, 7);
  assert.equal(s.change, 0);
  assert.equal(s.destroy, 0);
  assert.equal(s.replace, 0);
  assert.equal(s.destructive, false);
  assert.equal(s.resources.length, 8);
  const read = s.resources.find((r) => r.address === 'data.null_data_source.baz');
  assert.equal(read?.action, 'read');
  assert.ok(s.resources.some((r) => r.address === 'module.foo.null_resource.aliased' && r.action === 'add'));
  assert.deepEqual(
    s.resources.map((r) => r.address),
    [...s.resources.map((r) => r.address)].sort(),
    'resources are listed by address',
  );
});

test('summarises the recorded OpenTofu create plan: 3 adds of test_instance.test[n]', () => {
  const s = summarizePlan(parse('opentofu-basic-create.plan.json'));
  assert.deepEqual([s.add, s.change, s.destroy, s.replace], [3, 0, 0, 0]);
  assert.deepEqual(s.resources.map((r) => r.address), ['test_instance.test[0]', 'test_instance.test[1]', 'test_instance.test[2]']);
});

test('a no-op plan has no resources and no counts', () => {
  const s = summarizePlan(parse('opentofu-basic-update.plan.json'));
  assert.deepEqual([s.add, s.change, s.destroy, s.replace, s.resources.length], [0, 0, 0, 0, 0]);
  assert.equal(s.destructive, false);
});

test('update + delete: the delete is flagged destructive, the update is not', () => {
  const s = summarizePlan(parse('opentofu-basic-delete.plan.json'));
  assert.deepEqual([s.add, s.change, s.destroy, s.replace], [0, 1, 1, 0]);
  assert.equal(s.destructive, true);
  const byAddr = Object.fromEntries(s.resources.map((r) => [r.address, r]));
  assert.equal(byAddr['test_instance.test'].action, 'change');
  assert.equal(byAddr['test_instance.test'].destructive, false);
  assert.equal(byAddr['test_instance.test-delete'].action, 'destroy');
  assert.equal(byAddr['test_instance.test-delete'].destructive, true);
});

test('a replacement (["delete","create"]) is counted as replace and flagged destructive', () => {
  for (const name of ['opentofu-requires-replace.plan.json', 'terraform-json-action-reason.plan.json']) {
    const s = summarizePlan(parse(name));
    assert.equal(s.replace, 1, name);
    assert.equal(s.add + s.change + s.destroy, 0, name);
    assert.equal(s.destructive, true, name);
    assert.deepEqual(s.resources[0].actions, ['delete', 'create']);
    assert.equal(s.resources[0].action, 'replace');
  }
});

test('create_before_destroy (["create","delete"]) is a destructive replacement too', () => {
  assert.deepEqual(classifyActions(['create', 'delete']), { action: 'replace', destructive: true });
  assert.deepEqual(classifyActions(['no-op']), { action: 'no-op', destructive: false });
  assert.deepEqual(classifyActions(['forget']), { action: 'change', destructive: false });
});

test('the plan hash ignores key order, resource order and the timestamp, but not values', () => {
  const plan = parse('terraform-json-action-reason.plan.json');
  const h = planHash(plan);
  assert.match(h, /^[0-9a-f]{64}$/);

  const doc = JSON.parse(recorded('terraform-json-basic.plan.json'));
  const base = planHash(parsePlanJson(doc, { step: 'src' }));
  const shuffled = { ...doc, timestamp: '2030-01-01T00:00:00Z', resource_changes: [...doc.resource_changes].reverse().map((rc: Record<string, unknown>) => Object.fromEntries(Object.entries(rc).reverse())) };
  assert.equal(planHash(parsePlanJson(shuffled, { step: 'src' })), base);

  const changed = JSON.parse(JSON.stringify(doc));
  changed.resource_changes.find((rc: { address: string }) => rc.address === 'null_resource.foo').change.after.triggers.foo = 'baz';
  assert.notEqual(planHash(parsePlanJson(changed, { step: 'src' })), base);

  // no-op resources do not count: refreshed no-op data must not void an approval
  const noop = parse('opentofu-basic-update.plan.json');
  const noop2 = JSON.parse(recorded('opentofu-basic-update.plan.json'));
  noop2.resource_changes[0].change.before.id = 'refreshed';
  noop2.resource_changes[0].change.after.id = 'refreshed';
  assert.equal(planHash(parsePlanJson(noop2, { step: 'src' })), planHash(noop));
});

test('canonical JSON sorts keys at every level', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: null } }), '{"a":{"c":null,"d":[2,{"y":2,"z":1}]},"b":1}');
});

test('malformed plan JSON fails naming the step and the JSON pointer, never quoting values', () => {
  assert.throws(() => parsePlanJson('{"format_version": "1.0", "resource_changes": [', { step: 'src', excerpt: 'x' }), (err: unknown) => {
    assert.ok(err instanceof DeploymentFailedError);
    assert.equal(err.step, 'src');
    assert.equal(err.excerpt, 'x');
    assert.match(err.message, /step src printed malformed plan JSON/);
    return true;
  });
  assert.throws(() => parsePlanJson('', { step: 'db' }), /step db printed no plan JSON/);
  const bad = { format_version: '1.0', resource_changes: [{ address: 'a.b', type: 'a', name: 'b', change: { actions: ['obliterate'], after: { password: 'hunter2-secret' } } }] };
  assert.throws(() => parsePlanJson(JSON.stringify(bad), { step: 'src' }), (err: unknown) => {
    assert.ok(err instanceof DeploymentFailedError);
    assert.match(err.message, /\/resource_changes\/0\/change\/actions\/0/);
    assert.doesNotMatch(err.message, /hunter2/);
    return true;
  });
  assert.throws(() => parsePlanJson('{"resource_changes": []}', { step: 'src' }), /\/format_version/);
  assert.throws(() => parsePlanJson('[1,2]', { step: 'src' }), /malformed plan JSON/);
});

test('combining step plans prefixes addresses and hashes every step', () => {
  const a = parse('opentofu-basic-create.plan.json');
  const b = parse('opentofu-requires-replace.plan.json');
  const one = combineStepPlans([{ step: 'db', summary: summarizePlan(a), hash: planHash(a) }]);
  assert.equal(one.hash, planHash(a));
  const two = combineStepPlans([
    { step: 'db', summary: summarizePlan(a), hash: planHash(a) },
    { step: 'app', summary: summarizePlan(b), hash: planHash(b) },
  ]);
  assert.deepEqual([two.summary.add, two.summary.replace], [3, 1]);
  assert.equal(two.summary.destructive, true);
  assert.ok(two.summary.resources.some((r) => r.address === 'app:test_instance.test'));
  assert.notEqual(two.hash, one.hash);
});
