/**
 * Drift filed as a new ticket: policy's `ticket:` per environment, the drift episode a check
 * continues or begins, and where the Jira configuration says drift issues go.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { driftRulesFor, parsePolicy } from '../../src/policy/index.ts';
import { driftCheckSummary, episodeAfter } from '../../src/workflow/drift.ts';
import type { DriftState } from '../../src/engine/model.ts';
import { jiraSurfaceConfigSchema } from '../../src/surfaces/jira/config.ts';
import { driftIssueTarget, driftLabel } from '../../src/surfaces/jira/drift-tickets.ts';

const POLICY = `version: 1
environments:
  - name: all
    match: { names: [prod, dev, other] }
    requesters: anyone
    approvals: none
drift:
  environments:
    - match: { names: [prod] }
      ticket: new
    - match: { names: [dev] }
`;

test('policy says per environment whether drift goes to a new ticket; the default is the origin ticket', () => {
  const policy = parsePolicy(POLICY, 'p.yaml');
  assert.equal(driftRulesFor(policy, { name: 'prod', labels: {} }).ticket, 'new');
  assert.equal(driftRulesFor(policy, { name: 'dev', labels: {} }).ticket, 'origin');
  assert.equal(driftRulesFor(policy, { name: 'other', labels: {} }).ticket, 'origin');
  assert.throws(() => parsePolicy(POLICY.replace('ticket: new', 'ticket: elsewhere'), 'p.yaml'));
});

test('a drift episode begins when drift opens after the package was in sync, lasts while it stays open, and ends in sync', () => {
  const open: DriftState = { checkedAt: 't1', fingerprint: 'abc', findings: [], decisions: [], episode: '2026-11-24T09:00:00.000Z' };
  assert.deepEqual(episodeAfter(undefined, 'abc', 'now'), { episode: 'now' });
  assert.deepEqual(episodeAfter(open, 'def', 'now'), { episode: '2026-11-24T09:00:00.000Z' }, 'changed drift, same episode');
  assert.deepEqual(episodeAfter(open, '', 'now'), {}, 'in sync: no episode');
  assert.deepEqual(episodeAfter({ ...open, fingerprint: '' }, 'abc', 'now'), { episode: 'now' }, 'drift after being in sync: a new episode');
});

test('the Jira configuration names the drift issue type; labels are stable per episode and hold no spaces', () => {
  const base = { projects: { INFRA: { project: 'checkout', issueTypes: { 'Infrastructure request': {} } } } };
  assert.equal(driftIssueTarget(jiraSurfaceConfigSchema.parse(base)), undefined);
  const withDrift = jiraSurfaceConfigSchema.parse({ projects: { ...base.projects, OPS: { project: 'checkout', issueTypes: { 'Infrastructure drift': { kind: 'drift' } } } } });
  assert.deepEqual(driftIssueTarget(withDrift), { project: 'OPS', issueType: 'Infrastructure drift' });
  assert.equal(driftLabel('pkg@2026-11-24T09:00:00.000Z'), driftLabel('pkg@2026-11-24T09:00:00.000Z'));
  assert.notEqual(driftLabel('pkg@2026-11-24T09:00:00.000Z'), driftLabel('pkg@2026-11-25T09:00:00.000Z'));
  assert.match(driftLabel('a b@c'), /^ts-drift-[0-9a-f]{20}$/);
});

test('a drift check is summed up in the audit in plain grammar', () => {
  assert.equal(driftCheckSummary(0), 'drift check: reality matches what was applied');
  assert.equal(driftCheckSummary(1), 'drift check: 1 field differs from what was applied');
  assert.equal(driftCheckSummary(2), 'drift check: 2 fields differ from what was applied');
});
