import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { Clock, PolicyDecision } from '../../src/engine/model.ts';
import {
  StaticDirectory,
  evaluatePolicy,
  loadPolicy,
  overallOutcome,
  parsePolicy,
  type Policy,
  type PolicyInput,
  type WindowSource,
} from '../../src/policy/index.ts';

const EXAMPLE = fileURLToPath(new URL('../../examples/policy.yaml', import.meta.url));
const fixed = (iso: string): Clock => ({ now: () => new Date(iso) });
// Tue 2026-11-24 20:40 Berlin: outside the production window (Tue-Thu 10-16), staging closed too.
const EVENING = fixed('2026-11-24T19:40:00Z');
// Wed 2026-11-25 11:00 Berlin: inside every window.
const MIDDAY = fixed('2026-11-25T10:00:00Z');

const directory = new StaticDirectory([
  { id: 'dana', displayName: 'Dana', active: true, groups: ['checkout-developers'] },
  { id: 'pat', displayName: 'Pat', active: true, groups: ['product-managers'] },
  { id: 'rita', displayName: 'Rita', active: true, groups: ['release-managers'] },
  { id: 'olga', displayName: 'Olga', active: false, groups: ['checkout-developers'] },
  { id: 'sam', displayName: 'Sam', active: true, groups: ['marketing'] },
]);

const staging = { name: 'staging', labels: { production: false } };
const production = { name: 'production', labels: { production: true } };
const QA = { kind: 'qa-signed', by: 'alice', at: '2026-11-20T09:12:00Z' };

function dbRequest(over: Partial<PolicyInput> = {}): PolicyInput {
  return {
    kind: 'provision',
    actor: { id: 'dana' },
    environment: staging,
    bundle: 'postgres-database',
    version: '1.4.0',
    params: { database_name: 'checkout_orders', expected_size_gib: 50, production_critical: false, owner_team: 'checkout' },
    paramLabels: { expected_size_gib: 'Expected data size (GiB)', production_critical: 'Production-critical' },
    attestations: [QA],
    plan: { destructive: false },
    costDelta: 38.4,
    ...over,
  };
}

const byRule = (ds: PolicyDecision[], rule: string): PolicyDecision | undefined => ds.find((d) => d.rule === rule);

test('the staging database request reads like the ticket sketch', async () => {
  const policy = await loadPolicy({ path: EXAMPLE });
  const ds = await evaluatePolicy(policy, dbRequest(), { directory, clock: MIDDAY });
  assert.deepEqual(
    ds.map((d) => [d.rule, d.outcome, d.reason]),
    [
      ['requester', 'allow', 'Anyone may request changes in staging'],
      ['bundle-allow-list', 'allow', 'Bundle is on the platform allow-list'],
      ['version-qa-signed', 'allow', 'postgres-database 1.4.0 is qa-signed (alice, 2026-11-20)'],
      ['staging-size-limit', 'allow', 'Expected data size within the staging limit (200 GiB)'],
      ['staging-cost-warning', 'allow', 'Monthly cost change within $100'],
      ['approvals', 'needs_approval', 'needs 1 approval from platform-approvers (not the requester)'],
    ],
  );
  assert.deepEqual(byRule(ds, 'approvals')?.approvers, { groups: ['platform-approvers'], count: 1 });
  assert.equal(overallOutcome(ds), 'needs_approval');
});

test('staging: too large is denied with the limit and the value, an expensive change only warns', async () => {
  const policy = await loadPolicy({ path: EXAMPLE });
  const ds = await evaluatePolicy(policy, dbRequest({ params: { expected_size_gib: 250 }, costDelta: 180 }), { directory, clock: MIDDAY });
  assert.deepEqual(byRule(ds, 'staging-size-limit'), {
    rule: 'staging-size-limit',
    outcome: 'deny',
    reason: 'Expected data size above the staging limit (200 GiB): Expected data size (GiB) is 250, must be at most 200',
  });
  assert.equal(byRule(ds, 'staging-cost-warning')?.outcome, 'warn');
  assert.match(byRule(ds, 'staging-cost-warning')!.reason, /more than \$100: monthly cost change \(USD\) is 180, must be at most 100/);
  assert.equal(overallOutcome(ds), 'deny');
});

test('production: a non-critical database is denied, a production-critical one allowed; approvals from either group', async () => {
  const policy = await loadPolicy({ path: EXAMPLE });
  const deny = await evaluatePolicy(policy, dbRequest({ environment: production }), { directory, clock: MIDDAY });
  assert.equal(byRule(deny, 'production-database-availability')?.outcome, 'deny');
  assert.equal(
    byRule(deny, 'production-database-availability')?.reason,
    'Production databases need high availability or Production-critical: none of these holds: high_availability is not set, must be true; Production-critical is false, must be true',
  );
  const allow = await evaluatePolicy(policy, dbRequest({ environment: production, params: { expected_size_gib: 500, production_critical: true } }), { directory, clock: MIDDAY });
  assert.equal(byRule(allow, 'production-database-availability')?.outcome, 'allow');
  const ha = await evaluatePolicy(policy, dbRequest({ environment: production, params: { high_availability: true } }), { directory, clock: MIDDAY });
  assert.equal(byRule(ha, 'production-database-availability')?.outcome, 'allow', 'any: one alternative is enough');
  assert.equal(byRule(allow, 'approvals')?.reason, 'needs 1 approval from release-managers or platform-approvers (not the requester)');
  // The staging size limit is staging's own rule: production does not apply it.
  assert.equal(byRule(allow, 'staging-size-limit'), undefined);
  assert.equal(byRule(allow, 'requester')?.reason, 'Dana may request changes in production (checkout-developers)');
});

test('production: a promotion of an unsigned version is denied; a destructive plan needs an extra approval', async () => {
  const policy = await loadPolicy({ path: EXAMPLE });
  const input: PolicyInput = {
    kind: 'promote',
    actor: { id: 'pat' },
    environment: production,
    bundle: 'checkout-api',
    version: '2.14.0',
    params: { replicas: 4, log_level: 'warn' },
    attestations: [],
    plan: { destructive: true },
  };
  const ds = await evaluatePolicy(policy, input, { directory, clock: MIDDAY });
  assert.equal(byRule(ds, 'version-qa-signed')?.reason, 'Only qa-signed versions may leave dev: checkout-api 2.14.0 is not qa-signed');
  assert.equal(byRule(ds, 'version-qa-signed')?.outcome, 'deny');
  const destructive = byRule(ds, 'destructive-plans-need-platform')!;
  assert.equal(destructive.outcome, 'needs_approval');
  assert.equal(destructive.reason, 'The plan deletes or replaces a resource: destructive plan is true, must be false; needs 1 extra approval from platform-approvers (not the requester)');
  assert.deepEqual(destructive.approvers, { groups: ['platform-approvers'], count: 1 });
  assert.equal(byRule(ds, 'production-no-debug-logs')?.outcome, 'allow');
  const debug = await evaluatePolicy(policy, { ...input, params: { log_level: 'debug' }, attestations: [{ kind: 'qa-signed', by: 'qa-bot', at: '2026-11-22T08:00:00Z' }] }, { directory, clock: MIDDAY });
  assert.equal(byRule(debug, 'production-no-debug-logs')?.reason, 'Debug logging is not allowed in production: log_level must not be debug');
  assert.equal(byRule(debug, 'version-qa-signed')?.reason, 'checkout-api 2.14.0 is qa-signed (qa-bot, 2026-11-22)');
});

test('requesters: group members and listed users allowed; others, inactive and unknown people denied', async () => {
  const policy = await loadPolicy({ path: EXAMPLE });
  const ask = (id: string) => evaluatePolicy(policy, dbRequest({ actor: { id }, environment: production, params: { production_critical: true } }), { directory, clock: MIDDAY });
  assert.equal(byRule(await ask('rita'), 'requester')?.outcome, 'allow');
  const sam = byRule(await ask('sam'), 'requester')!;
  assert.equal(sam.outcome, 'deny');
  assert.equal(sam.reason, 'Sam may not request changes in production: only checkout-developers, product-managers, release-managers or platform-approvers may');
  assert.deepEqual(byRule(await ask('olga'), 'requester'), { rule: 'requester', outcome: 'deny', reason: 'Olga is not an active user' });
  const ghost = await ask('ghost');
  assert.equal(byRule(ghost, 'requester')?.reason, 'ghost is not known to the directory, so the request cannot be checked');
  assert.equal(overallOutcome(ghost), 'deny');
  // In staging anyone may ask, but an inactive person still may not.
  const stagingOlga = await evaluatePolicy(policy, dbRequest({ actor: { id: 'olga' } }), { directory, clock: MIDDAY });
  assert.equal(byRule(stagingOlga, 'requester')?.outcome, 'deny');

  const users = parsePolicy(`version: 1
environments:
  - name: sandbox
    requesters: { users: [sam] }
    approvals: none`);
  const env = { name: 'sandbox', labels: {} };
  const samOk = await evaluatePolicy(users, dbRequest({ actor: { id: 'sam' }, environment: env }), { directory, clock: MIDDAY });
  assert.equal(byRule(samOk, 'requester')?.reason, 'Sam may request changes in sandbox');
  assert.deepEqual(byRule(samOk, 'approvals'), { rule: 'approvals', outcome: 'allow', reason: 'No approval needed in sandbox' });
  const danaNo = await evaluatePolicy(users, dbRequest({ environment: env }), { directory, clock: MIDDAY });
  assert.equal(byRule(danaNo, 'requester')?.reason, 'Dana may not request changes in sandbox: only user sam may');
});

test('a request kind the environment does not allow, and an environment no entry covers, are denied with the reason', async () => {
  const policy = await loadPolicy({ path: EXAMPLE });
  const ds = await evaluatePolicy(policy, dbRequest({ kind: 'query', environment: production, params: { production_critical: true } }), { directory, clock: MIDDAY });
  assert.equal(byRule(ds, 'request-kind')?.reason, 'Query requests are not allowed in production (allowed: provision, update, promote, decommission)');
  // A decommission is allowed in production, and its destroy plan needs the platform's extra approval.
  const gone = await evaluatePolicy(policy, dbRequest({ kind: 'decommission', environment: production, params: { production_critical: true }, plan: { destructive: true } }), { directory, clock: MIDDAY });
  assert.equal(byRule(gone, 'request-kind'), undefined);
  assert.equal(byRule(gone, 'destructive-plans-need-platform')?.outcome, 'needs_approval');
  const none = await evaluatePolicy(policy, dbRequest({ environment: { name: 'qa', labels: {} } }), { directory, clock: MIDDAY });
  assert.deepEqual(none, [
    { rule: 'environment', outcome: 'deny', reason: 'No policy covers environment qa: nothing can be requested there until it is added to policy.yaml' },
  ]);
  assert.equal(overallOutcome(none), 'deny');
  // An environment matched by label, whatever its name: labels given as text match typed ones.
  const uat = await evaluatePolicy(policy, dbRequest({ environment: { name: 'uat', labels: { production: 'false' } } }), { directory, clock: MIDDAY });
  assert.equal(byRule(uat, 'staging-size-limit')?.outcome, 'allow');
});

test('the emergency path: extra approval outside the window, not needed inside, a warning where there is none', async () => {
  const policy = await loadPolicy({ path: EXAMPLE });
  const input = dbRequest({ environment: production, params: { production_critical: true }, emergency: true });
  const outside = await evaluatePolicy(policy, input, { directory, clock: EVENING });
  assert.deepEqual(byRule(outside, 'emergency'), {
    rule: 'emergency',
    outcome: 'needs_approval',
    reason: 'Emergency change outside the production window: needs 1 extra approval from platform-approvers (not the requester)',
    approvers: { groups: ['platform-approvers'], count: 1 },
  });
  const inside = await evaluatePolicy(policy, input, { directory, clock: MIDDAY });
  assert.deepEqual(byRule(inside, 'emergency'), { rule: 'emergency', outcome: 'allow', reason: 'The production window is open now; the emergency path is not needed' });
  const notEmergency = await evaluatePolicy(policy, { ...input, emergency: false }, { directory, clock: EVENING });
  assert.equal(byRule(notEmergency, 'emergency'), undefined);
  // Staging has windows but no emergency path.
  const stg = await evaluatePolicy(policy, dbRequest({ emergency: true }), { directory, clock: EVENING });
  assert.equal(byRule(stg, 'emergency')?.outcome, 'warn');
  assert.equal(byRule(stg, 'emergency')?.reason, 'staging has no emergency path: the change waits for the next window (Wed 2026-11-25 07:00–20:00 Europe/Berlin)');
});

test('window sources are consulted: a blackout covering every window denies the request', async () => {
  const policy = await loadPolicy({ path: EXAMPLE });
  const freeze: WindowSource = {
    name: 'freeze-calendar',
    load: async () => ({ blackouts: [{ reason: 'Merger freeze', start: new Date('2026-01-01T00:00:00Z'), end: new Date('2028-06-01T00:00:00Z'), source: 'freeze-calendar' }] }),
  };
  const ds = await evaluatePolicy(policy, dbRequest(), { directory, clock: MIDDAY, windowSources: [freeze] });
  assert.equal(byRule(ds, 'change-window')?.outcome, 'deny');
  const without = await evaluatePolicy(policy, dbRequest(), { directory, clock: MIDDAY });
  assert.equal(byRule(without, 'change-window'), undefined);
});

// ------------------------------------------------------------------------------------------------
// Every condition kind, allow and deny, through one rule each.

const KINDS = parsePolicy(`version: 1
environments:
  - name: lab
    match: { labels: { tier: lab } }
    approvals: none
    rules:
      - { id: p-equals, require: { param: tls, equals: true } }
      - { id: p-not-equals, require: { param: engine, not_equals: mysql } }
      - { id: p-in, require: { param: region, in: [eu-west-1, eu-central-1] } }
      - { id: p-not-in, require: { param: region, not_in: [us-east-1] } }
      - { id: p-lt, require: { param: replicas, lt: 10 } }
      - { id: p-gte, require: { param: replicas, gte: 2 } }
      - { id: p-gt, require: { param: /limits/cpu, gt: 0.5 } }
      - { id: p-exists, require: { param: owner.team, exists: true } }
      - { id: p-not-exists, require: { param: public_ip, exists: false } }
      - { id: p-matches, require: { param: name, matches: "^[a-z]+-db$" } }
      - { id: label-eq, require: { label: cost_center, equals: cc-42 } }
      - { id: f-bundle, require: { field: bundle, in: [postgres-database] } }
      - { id: f-version, require: { field: version, matches: "^1\\\\." } }
      - { id: f-kind, require: { field: kind, not_equals: decommission } }
      - { id: f-env, require: { field: environment, equals: lab } }
      - { id: f-emergency, require: { field: emergency, equals: false } }
      - { id: attested, require: { attestation: security-reviewed } }
      - { id: all-of, require: { all: [ { param: tls, equals: true }, { param: replicas, gte: 2 } ] } }
      - { id: not-of, require: { not: { param: engine, equals: mysql } } }
      - id: scoped
        when: { param: engine, equals: postgres }
        require: { param: replicas, gte: 3 }
`);

const good: PolicyInput = {
  kind: 'provision',
  actor: { id: 'dana' },
  environment: { name: 'lab', labels: { tier: 'lab', cost_center: 'cc-42' } },
  bundle: 'postgres-database',
  version: '1.4.0',
  params: { tls: true, engine: 'postgres', region: 'eu-west-1', replicas: 3, limits: { cpu: 1 }, owner: { team: 'checkout' }, name: 'orders-db' },
  attestations: [{ kind: 'security-reviewed', by: 'sec', at: '2026-11-01T00:00:00Z' }],
};

const bad: PolicyInput = {
  ...good,
  kind: 'decommission',
  environment: { name: 'lab2', labels: { tier: 'lab', cost_center: 'cc-7' } },
  bundle: 'redis-cache',
  version: '2.0.0',
  params: { tls: false, engine: 'mysql', region: 'us-east-1', replicas: 12, limits: { cpu: 0.25 }, public_ip: '203.0.113.9', name: 'Orders' },
  attestations: [],
  emergency: true,
};

const EXPECTED_DENIALS: Record<string, string> = {
  'p-equals': 'tls is false, must be true',
  'p-not-equals': 'engine must not be mysql',
  'p-in': 'region is us-east-1, must be one of eu-west-1, eu-central-1',
  'p-not-in': 'region is us-east-1, which is not allowed here',
  'p-lt': 'replicas is 12, must be below 10',
  'p-gt': '/limits/cpu is 0.25, must be above 0.5',
  'p-exists': 'owner.team is not set',
  'p-not-exists': 'public_ip must not be set',
  'p-matches': 'name is Orders, must match ^[a-z]+-db$',
  'label-eq': 'label cost_center of lab2 is cc-7, must be cc-42',
  'f-bundle': 'bundle is redis-cache, must be one of postgres-database',
  'f-version': 'version is 2.0.0, must match ^1\\.',
  'f-kind': 'request kind must not be decommission',
  'f-env': 'environment is lab2, must be lab',
  'f-emergency': 'emergency is true, must be false',
  attested: 'redis-cache 2.0.0 is not security-reviewed',
  'all-of': 'tls is false, must be true',
  'not-of': 'engine is mysql, which is not allowed here',
};

test('every condition kind allows a request that meets it', async () => {
  const ds = await evaluatePolicy(KINDS, good, { directory, clock: MIDDAY });
  const rules = ds.filter((d) => !['requester', 'approvals'].includes(d.rule));
  assert.deepEqual(
    rules.filter((d) => d.outcome !== 'allow'),
    [],
  );
  assert.equal(rules.length, Object.keys(EXPECTED_DENIALS).length + 2, 'every rule (p-gte and scoped included) decided');
  assert.equal(byRule(ds, 'p-lt')?.reason, 'replicas is 3 (below 10)');
  assert.equal(byRule(ds, 'attested')?.reason, 'postgres-database 1.4.0 is security-reviewed (sec, 2026-11-01)');
  assert.equal(byRule(ds, 'all-of')?.reason, 'tls is true; replicas is 3 (at least 2)');
  assert.equal(overallOutcome(ds), 'allow');
});

test('every condition kind denies a request that breaks it, saying what was found and what was expected', async () => {
  const ds = await evaluatePolicy(KINDS, bad, { directory, clock: MIDDAY });
  for (const [rule, reason] of Object.entries(EXPECTED_DENIALS)) {
    assert.deepEqual(byRule(ds, rule), { rule, outcome: 'deny', reason }, rule);
  }
  // `when` did not hold (engine is mysql): the scoped rule does not apply at all.
  assert.equal(byRule(ds, 'scoped'), undefined);
  // p-gte still passes (12 >= 2): the checks are independent.
  assert.equal(byRule(ds, 'p-gte')?.outcome, 'allow');
  const scopedFail = await evaluatePolicy(KINDS, { ...good, params: { ...good.params, replicas: 2 } }, { directory, clock: MIDDAY });
  assert.equal(byRule(scopedFail, 'scoped')?.reason, 'replicas is 2, must be at least 3');
  const notNumber = await evaluatePolicy(KINDS, { ...good, params: { ...good.params, replicas: '3' } }, { directory, clock: MIDDAY });
  assert.equal(byRule(notNumber, 'p-lt')?.reason, 'replicas is 3, must be a number below 10');
});

test('overallOutcome: deny beats needs_approval beats warn and allow', () => {
  const d = (outcome: PolicyDecision['outcome']): PolicyDecision => ({ rule: 'r', outcome, reason: 'x' });
  assert.equal(overallOutcome([d('allow'), d('warn')]), 'allow');
  assert.equal(overallOutcome([d('warn'), d('needs_approval')]), 'needs_approval');
  assert.equal(overallOutcome([d('needs_approval'), d('deny'), d('allow')]), 'deny');
});

test('policy input is not modified by evaluation', async () => {
  const policy: Policy = await loadPolicy({ path: EXAMPLE });
  const input = dbRequest({ environment: production, params: { production_critical: true } });
  const before = JSON.stringify(input);
  await evaluatePolicy(policy, input, { directory, clock: MIDDAY });
  assert.equal(JSON.stringify(input), before);
});
