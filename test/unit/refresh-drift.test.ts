import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { observationFromRefreshPlan } from '../../src/provisioners/refresh-drift.ts';

const recorded = JSON.parse(readFileSync(new URL('../fixtures/opentofu/recorded/opentofu-drift.plan.json', import.meta.url), 'utf8'));

test('a recorded refresh-only plan: an attribute set from a constant is reported per resource (reality only)', () => {
  assert.deepEqual(observationFromRefreshPlan(recorded, ['ami']), {
    params: {},
    attributes: { 'test_instance.should_refresh': { ami: 'refreshed' } },
  });
});

test('an attribute set from exactly one variable that is a param maps back to that param', () => {
  const plan = structuredClone(recorded);
  plan.configuration.root_module.resources[1].expressions.ami = { references: ['var.image'] };
  assert.deepEqual(observationFromRefreshPlan(plan, ['image']), { params: { image: 'refreshed' }, attributes: {} });
  // Not a param, or more than one variable: reported per attribute.
  assert.deepEqual(observationFromRefreshPlan(plan, ['other']).attributes, { 'test_instance.should_refresh': { ami: 'refreshed' } });
  plan.configuration.root_module.resources[1].expressions.ami = { references: ['var.image', 'var.suffix'] };
  assert.deepEqual(observationFromRefreshPlan(plan, ['image', 'suffix']).params, {});
});

test('a resource deleted outside the service is reported as gone; no resource_drift is no drift', () => {
  const plan = structuredClone(recorded);
  plan.resource_drift[0].change = { actions: ['delete'], before: { ami: 'x' }, after: null };
  assert.deepEqual(observationFromRefreshPlan(plan, []).attributes, { 'test_instance.should_refresh': { exists: false } });
  assert.deepEqual(observationFromRefreshPlan({ format_version: '1.0' }, ['ami']), { params: {}, attributes: {} });
});
