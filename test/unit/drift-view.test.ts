/** The drift comment: every open field can be decided on, and the comment says how. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DriftFinding, Package } from '../../src/engine/model.ts';
import { driftBlocks } from '../../src/surfaces/shared/drift-view.ts';

const finding = (field: string, observed: unknown): DriftFinding => ({ field, label: field, class: 'drifted', owner: 'dev', proposal: 'ask', lastApplied: 1, desired: 1, observed });

test('the drift comment spells out the commands for the first open field and names the others', () => {
  const pkg = {
    id: 'checkout-staging-orders-db',
    lastDeployment: 'dep_1',
    drift: { checkedAt: '2026-11-24T09:00:00Z', fingerprint: 'f', decisions: [], findings: [finding('connection_limit', 400), finding('owner_team', 'payments'), finding('max_size_gb', 80), { ...finding('replicas', 1), class: 'in_sync', proposal: 'none' }] },
  } as unknown as Package;
  const text = JSON.stringify(driftBlocks(pkg, undefined));
  assert.match(text, /\/drift adopt connection_limit {3}\(keeps 400; nothing is applied\)/);
  assert.match(text, /The same for owner_team, max_size_gb\./);
  assert.doesNotMatch(text, /replicas\./, 'a field in sync needs no decision');
});
