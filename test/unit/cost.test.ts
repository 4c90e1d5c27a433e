import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BundleError } from '../../src/engine/errors.ts';
import { costDelta, estimateMonthlyCost, parseCostModel } from '../../src/engine/cost.ts';

const bundle = (cost: unknown, params: Record<string, unknown> = {}) => ({
  raw: { cost } as Record<string, unknown>,
  file: 'bundles/db/massdriver.yaml',
  params: { properties: params },
});

const model = {
  currency: 'USD',
  base: 12.5,
  per: [{ param: 'allocated_storage_gb', rate: 0.115 }],
  multiply: [{ when: { param: 'high_availability', equals: true }, factor: 2 }],
};

test('base + per-unit rate, multiplied when a condition holds', () => {
  const b = bundle(model);
  assert.equal(estimateMonthlyCost(b, { allocated_storage_gb: 100, high_availability: false }), 24);
  assert.equal(estimateMonthlyCost(b, { allocated_storage_gb: 100, high_availability: true }), 48);
  assert.equal(estimateMonthlyCost(b, { allocated_storage_gb: 33, high_availability: false }), 16.3); // 12.5 + 3.795 rounded to cents
});

test('a param the package does not set falls back to the schema default', () => {
  const b = bundle(model, { allocated_storage_gb: { type: 'integer', default: 20 } });
  assert.equal(estimateMonthlyCost(b, {}), 14.8);
});

test('add rules, in/gte conditions and nested params', () => {
  const b = bundle({
    base: 0,
    per: [{ param: 'storage.size_gb', rate: 1 }],
    add: [
      { when: { param: 'tier', in: ['gold', 'platinum'] }, amount: 10 },
      { when: { param: '/storage/size_gb', gte: 100 }, amount: 5 },
    ],
  });
  assert.equal(estimateMonthlyCost(b, { tier: 'gold', storage: { size_gb: 100 } }), 115);
  assert.equal(estimateMonthlyCost(b, { tier: 'bronze', storage: { size_gb: 50 } }), 50);
});

test('no cost model: 0; a bad one is a BundleError naming the field', () => {
  assert.equal(estimateMonthlyCost({ raw: {}, file: 'x', params: {} }, {}), 0);
  assert.equal(parseCostModel({ raw: {}, file: 'x' }), undefined);
  assert.throws(() => parseCostModel(bundle({ base: -1, per: [{ param: 'a' }] })), (err: unknown) => {
    assert.ok(err instanceof BundleError);
    const pointers = err.issues.map((i) => i.pointer);
    assert.ok(pointers.includes('/cost/base'), pointers.join());
    assert.ok(pointers.includes('/cost/per/0/rate'), pointers.join());
    return true;
  });
  assert.throws(() => estimateMonthlyCost(bundle(model), { allocated_storage_gb: 'lots' }), (err: unknown) => {
    assert.ok(err instanceof BundleError);
    assert.equal(err.issues[0].pointer, '/cost/per/0/param');
    return true;
  });
});

test('cost delta as a plan shows it', () => {
  assert.deepEqual(costDelta(24, 62.4), { before: 24, after: 62.4, delta: 38.4, text: '+$38.40/month' });
  assert.equal(costDelta(48, 24).text, '-$24.00/month');
  assert.equal(costDelta(10, 10).text, '±$0');
  assert.equal(costDelta(undefined, 12.5).delta, 12.5);
  assert.equal(costDelta(5, 7, 'EUR').text, '+2.00 EUR/month');
});
