import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classify, driftFingerprint, mergeDrift, openFindings, propose, type MergeInput } from '../../src/engine/drift-merge.ts';

const NOW = new Date('2026-12-04T02:41:00Z');

function input(over: Partial<MergeInput> = {}): MergeInput {
  return {
    fields: [
      { name: 'connection_limit', label: 'Connection limit', owner: 'dev' },
      { name: 'owner_team', label: 'Owner team', owner: 'dev' },
      { name: 'production_critical', label: 'Production-critical', owner: 'ops' },
    ],
    base: { connection_limit: 200, owner_team: 'checkout', production_critical: true },
    desired: { connection_limit: 200, owner_team: 'checkout', production_critical: true },
    observed: { connection_limit: 200, owner_team: 'checkout', production_critical: true },
    attributes: {},
    choose: () => 'ask',
    now: NOW,
    ...over,
  };
}

test('classify: the three-way table', () => {
  assert.equal(classify(200, 200, 200), 'in_sync');
  assert.equal(classify(200, 300, 200), 'in_sync', 'a pending edit of desired is not drift');
  assert.equal(classify(200, 200, 400), 'drifted');
  assert.equal(classify(200, 400, 400), 'in_sync', 'both moved to the same value');
  assert.equal(classify(200, 300, 400), 'both_sides');
  assert.equal(classify({ a: 1, b: 2 }, { b: 2, a: 1 }, { a: 1, b: 2 }), 'in_sync', 'objects compare canonically');
});

test('propose: both sides always ask; reality-only cannot be adopted', () => {
  assert.equal(propose('in_sync', 'adopt'), 'none');
  assert.equal(propose('drifted', 'adopt'), 'adopt');
  assert.equal(propose('drifted', 'revert'), 'revert');
  assert.equal(propose('both_sides', 'adopt'), 'ask');
  assert.equal(propose('both_sides', 'revert'), 'ask');
  assert.equal(propose('reality_only', 'adopt'), 'ask');
  assert.equal(propose('reality_only', 'revert'), 'revert');
});

test('mergeDrift: every field classified, policy per field and owner, reality-only attributes listed', () => {
  const findings = mergeDrift(input({
    desired: { connection_limit: 200, owner_team: 'payments-core', production_critical: true },
    observed: { connection_limit: 400, owner_team: 'payments', production_critical: false },
    attributes: { 'postgresql_database.main': { owner: 'postgres' } },
    choose: (field, owner) => (field === 'connection_limit' ? 'adopt' : owner === 'ops' ? 'revert' : 'ask'),
  }));
  assert.deepEqual(findings.map((f) => [f.field, f.class, f.owner, f.proposal]), [
    ['connection_limit', 'drifted', 'dev', 'adopt'],
    ['owner_team', 'both_sides', 'dev', 'ask'],
    ['production_critical', 'drifted', 'ops', 'revert'],
    ['postgresql_database.main.owner', 'reality_only', 'ops', 'revert'],
  ]);
  assert.deepEqual([findings[0]!.lastApplied, findings[0]!.desired, findings[0]!.observed], [200, 200, 400]);
  assert.equal(findings[0]!.since, NOW.toISOString());
});

test('mergeDrift: a param reality was not read for counts as unchanged', () => {
  const findings = mergeDrift(input({ observed: {} }));
  assert.deepEqual(openFindings(findings), []);
  assert.equal(driftFingerprint(findings), '');
});

test('mergeDrift: since is kept across checks; ignore until holds, then lapses', () => {
  const first = mergeDrift(input({ observed: { connection_limit: 400 } }));
  const later = new Date(NOW.getTime() + 3600_000);
  const again = mergeDrift(input({ observed: { connection_limit: 400 }, previous: first, now: later }));
  assert.equal(again[0]!.since, NOW.toISOString());
  const until = new Date(NOW.getTime() + 7200_000).toISOString();
  const ignored = mergeDrift(input({ observed: { connection_limit: 400 }, ignored: { connection_limit: until }, now: later }));
  assert.equal(ignored[0]!.proposal, 'none');
  assert.equal(ignored[0]!.ignoredUntil, until);
  assert.deepEqual(openFindings(ignored), []);
  const lapsed = mergeDrift(input({ observed: { connection_limit: 400 }, ignored: { connection_limit: until }, now: new Date(NOW.getTime() + 9000_000) }));
  assert.equal(openFindings(lapsed).length, 1);
});

test('driftFingerprint: the same drift has the same fingerprint; another value another', () => {
  const a = driftFingerprint(mergeDrift(input({ observed: { connection_limit: 400 } })));
  const b = driftFingerprint(mergeDrift(input({ observed: { connection_limit: 400 }, now: new Date(NOW.getTime() + 86_400_000) })));
  const c = driftFingerprint(mergeDrift(input({ observed: { connection_limit: 450 } })));
  assert.equal(a, b);
  assert.notEqual(a, c);
  assert.match(a, /^[0-9a-f]{16}$/);
});

test('a sensitive param is classified on its real values, then kept and shown only masked', async () => {
  const { maskSensitive } = await import('../../src/workflow/drift.ts');
  const findings = mergeDrift(input({
    fields: [{ name: 'password', label: 'Password', owner: 'dev' }, { name: 'owner_team', label: 'Owner team', owner: 'dev' }],
    base: { password: 'hunter2-old', owner_team: 'checkout' },
    desired: { password: 'hunter2-old', owner_team: 'checkout' },
    observed: { password: 'hunter2-by-hand', owner_team: 'payments' },
  }));
  const masked = maskSensitive(findings, new Set(['password']));
  const pw = masked.find((f) => f.field === 'password')!;
  assert.equal(pw.class, 'drifted');
  assert.equal(pw.sensitive, true);
  assert.doesNotMatch(JSON.stringify(masked), /hunter2/);
  assert.deepEqual(masked.find((f) => f.field === 'owner_team'), findings.find((f) => f.field === 'owner_team'), 'other fields keep their values');
});
