import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ValidationError } from '../../src/engine/errors.ts';
import { loadPolicy, parsePolicy } from '../../src/policy/index.ts';

const EXAMPLE = fileURLToPath(new URL('../../examples/policy.yaml', import.meta.url));

/** Parses `text` expecting a ValidationError; returns it. */
function mistakes(text: string): ValidationError {
  try {
    parsePolicy(text, 'policy.yaml');
  } catch (err) {
    assert.ok(err instanceof ValidationError, `expected ValidationError, got ${String(err)}`);
    return err;
  }
  assert.fail('policy was accepted');
}

/** A small valid policy; tests break one line of it. */
const BASE = `version: 1
approval_ttl: 72h
environments:
  - name: production
    match: { labels: { production: true } }
    approvals: { groups: [release-managers], count: 1 }
    windows:
      time_zone: Europe/Berlin
      weekly:
        - { days: [tue, wed, thu], start: "10:00", end: "16:00" }
      blackouts:
        - { reason: Freeze, from_date: "2026-12-18", to_date: "2027-01-04" }
    rules:
      - id: size-limit
        require: { param: expected_size_gib, lte: 200 }
`;

test('the example policy loads and is typed', async () => {
  const p = await loadPolicy({ path: EXAMPLE });
  assert.equal(p.file, 'policy.yaml');
  assert.deepEqual(
    p.environments.map((e) => e.name),
    ['dev', 'staging', 'production', 'preview'],
  );
  const prod = p.environments[2];
  assert.deepEqual(prod.match, { names: undefined, labels: { production: true } });
  assert.equal(prod.approvalTtlMs, 48 * 3600_000, 'per-environment ttl overrides the file default');
  assert.equal(p.environments[1].approvalTtlMs, 72 * 3600_000);
  assert.deepEqual(prod.windows?.weekly[0], { days: [2, 3, 4], start: { hour: 10, minute: 0 }, end: { hour: 16, minute: 0 } });
  // Local-date blackouts become instants in the window's zone: 2026-11-27 00:00 CET = 26th 23:00 UTC, inclusive end.
  const bf = prod.windows!.blackouts[0];
  assert.equal(bf.start.toISOString(), '2026-11-26T23:00:00.000Z');
  assert.equal(bf.end.toISOString(), '2026-11-30T23:00:00.000Z');
  assert.equal(prod.emergency?.allowed, true);
  assert.deepEqual(prod.emergency?.approvals, { groups: ['platform-approvers'], count: 1 });
  // Preview environments are leased: two days, at most a week, reminded a day and an hour before.
  assert.deepEqual(p.environments[3].lease, { defaultMs: 2 * 86_400_000, maxMs: 7 * 86_400_000, remindBeforeMs: [86_400_000, 3_600_000] });
});

test('loadPolicy reads text too, and a file given by path is named by its base name only', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'policy-'));
  try {
    const file = join(dir, 'ops-policy.yaml');
    await writeFile(file, BASE.replace('count: 1', 'count: 0'));
    await assert.rejects(loadPolicy({ path: file }), (err: unknown) => {
      assert.ok(err instanceof ValidationError);
      assert.equal(err.issues[0].file, 'ops-policy.yaml');
      assert.ok(!err.message.includes(dir), 'no machine path in the message');
      return true;
    });
    const p = await loadPolicy({ text: BASE, file: 'inline.yaml' });
    assert.equal(p.file, 'inline.yaml');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a wrong value names its line and the schema rule', () => {
  const err = mistakes(BASE.replace('count: 1', 'count: 0'));
  assert.equal(err.issues.length, 1);
  assert.equal(err.issues[0].line, 6);
  assert.equal(err.issues[0].pointer, '/environments/0/approvals/count');
  assert.match(err.issues[0].message, /^line 6: environments\[0\]\.approvals\.count: must be >= 1 \(rule: schema minimum\)$/);
  assert.match(err.message, /policy file policy\.yaml has 1 mistake/);
});

test('an unknown key is placed on the line of the key', () => {
  const err = mistakes(BASE.replace('        require: { param: expected_size_gib, lte: 200 }', '        requires: { param: expected_size_gib, lte: 200 }'));
  const unknown = err.issues.find((i) => i.message.includes('unknown key "requires"'));
  assert.ok(unknown, err.message);
  assert.equal(unknown.line, 15);
  assert.match(unknown.message, /in rule "size-limit"/, 'names the policy rule it sits in');
  const missing = err.issues.find((i) => i.message.includes('"require" is missing'));
  assert.ok(missing, 'the missing require is reported too');
  assert.equal(missing.line, 14);
});

test('a bad local time says what a time looks like', () => {
  const err = mistakes(BASE.replace('start: "10:00"', 'start: "10h"'));
  assert.equal(err.issues[0].line, 10);
  assert.match(err.issues[0].message, /start: must be a 24-hour local time HH:MM such as 10:00 \(rule: schema pattern\)/);
});

test('an unknown time zone is rejected with its line', () => {
  const err = mistakes(BASE.replace('time_zone: Europe/Berlin', 'time_zone: Europe/Berln'));
  assert.equal(err.issues[0].line, 8);
  assert.match(err.issues[0].message, /"Europe\/Berln" is not an IANA time zone.*\(rule: time zone\)/);
});

test('several mistakes are reported together, sorted by line', () => {
  const err = mistakes(BASE.replace('approval_ttl: 72h', 'approval_ttl: 3 days').replace('days: [tue, wed, thu]', 'days: [tue, wednesday]'));
  assert.deepEqual(
    err.issues.map((i) => i.line),
    [2, 10],
  );
  assert.match(err.issues[0].message, /approval_ttl: must be a duration such as 72h/);
  assert.match(err.issues[1].message, /days\[1\]: must be one of: mon, tue, wed, thu, fri, sat, sun \(rule: schema enum\)/);
});

test('a condition with two checks, or with an operator that does not fit, is rejected with its line', () => {
  const two = mistakes(BASE.replace('require: { param: expected_size_gib, lte: 200 }', 'require: { param: expected_size_gib, label: tier, lte: 200 }'));
  assert.equal(two.issues[0].line, 15);
  assert.match(two.issues[0].message, /mixes param and label.*\(rule: condition subject\)/);
  const noOp = mistakes(BASE.replace('require: { param: expected_size_gib, lte: 200 }', 'require: { param: expected_size_gib }'));
  assert.match(noOp.issues[0].message, /"param" needs an operator/);
  const boolCmp = mistakes(BASE.replace('require: { param: expected_size_gib, lte: 200 }', 'require: { field: destructive, lte: 1 }'));
  assert.match(boolCmp.issues[0].message, /line 15: .*destructive is true or false: use equals/);
  const badRe = mistakes(BASE.replace('require: { param: expected_size_gib, lte: 200 }', 'require: { param: name, matches: "(" }'));
  assert.match(badRe.issues[0].message, /line 15: .*matches.*not a valid regular expression/);
});

test('blackouts need a coherent period', () => {
  const reversed = mistakes(BASE.replace('to_date: "2027-01-04"', 'to_date: "2026-12-01"'));
  assert.equal(reversed.issues[0].line, 12);
  assert.match(reversed.issues[0].message, /to_date: must be after from_date \(rule: blackout period\)/);
  const mixed = mistakes(BASE.replace('{ reason: Freeze, from_date: "2026-12-18", to_date: "2027-01-04" }', '{ reason: Freeze, start: "2026-12-18T00:00:00Z" }'));
  assert.match(mixed.issues[0].message, /line 12: .*needs either "start" and "end"/);
  const badDate = mistakes(BASE.replace('from_date: "2026-12-18"', 'from_date: "2026-02-30"'));
  assert.match(badDate.issues[0].message, /line 12: .*from_date: "2026-02-30" is not a valid date/);
});

test('duplicate rule ids, duplicate YAML keys, and a zero-length window are rejected with their lines', () => {
  const dupRule = mistakes(BASE + `      - id: size-limit\n        require: { attestation: qa-signed }\n`);
  assert.equal(dupRule.issues[0].line, 16);
  assert.match(dupRule.issues[0].message, /rule id "size-limit" is already used at environments\[0\]\.rules\[0\]/);
  const dupKey = mistakes(BASE.replace('approval_ttl: 72h', 'approval_ttl: 72h\napproval_ttl: 24h'));
  assert.equal(dupKey.issues[0].line, 3);
  assert.match(dupKey.issues[0].message, /rule: yaml DUPLICATE_KEY/);
  const zero = mistakes(BASE.replace('end: "16:00"', 'end: "10:00"'));
  assert.equal(zero.issues[0].line, 10);
  assert.match(zero.issues[0].message, /must differ from start/);
});

test('semantic rules: approvers belong to needs_approval rules, an emergency path needs approvers and windows', () => {
  const noApprovers = mistakes(BASE.replace('lte: 200 }', 'lte: 200 }\n        on_fail: needs_approval'));
  assert.match(noApprovers.issues[0].message, /line 14: .*on_fail: needs_approval needs "approvers"/);
  const emergency = mistakes(BASE.replace('    rules:\n', '    emergency: { allowed: true }\n    rules:\n'));
  assert.match(emergency.issues[0].message, /line 13: .*an allowed emergency path needs "approvals"/);
  const windowsMissingZone = mistakes(BASE.replace('      time_zone: Europe/Berlin\n', ''));
  assert.match(windowsMissingZone.issues[0].message, /line 8: environments\[0\]\.windows: needs a time_zone/);
});

test('requesters and approvals take only their words or their object form', () => {
  const err = mistakes(BASE.replace('approvals: { groups: [release-managers], count: 1 }', 'approvals: nobody'));
  assert.equal(err.issues.length, 1);
  assert.match(err.issues[0].message, /line 6: environments\[0\]\.approvals: must be "none" \(rule: schema const\)/);
  const ok = parsePolicy(BASE.replace('approvals: { groups: [release-managers], count: 1 }', 'approvals: none\n    requesters: { users: [alice] }'));
  assert.equal(ok.environments[0].approvals, null);
  assert.deepEqual(ok.environments[0].requesters, { groups: [], users: ['alice'] });
});
