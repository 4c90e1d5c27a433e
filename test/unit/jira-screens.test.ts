/** Which issue types of a project forms sync puts the form fields on: request ones only. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { screenedProject } from '../../src/surfaces/jira/screens.ts';
import { jiraProjectSchema } from '../../src/surfaces/jira/config.ts';

test('question and drift issue types are left out of the screens that carry the form; request ones, configured or per bundle, are in', () => {
  const config = jiraProjectSchema.parse({
    project: 'checkout',
    issueTypes: { 'Infrastructure request': {}, 'Orders database': { bundle: 'orders-db' }, Question: { kind: 'question' }, Drift: { kind: 'drift' } },
  });
  const types = [
    { id: '1', name: 'Infrastructure request' },
    { id: '2', name: 'Orders database' },
    { id: '3', name: 'Question' },
    { id: '4', name: 'Drift' },
    { id: '5', name: 'Redis cache' },
    { id: '6', name: 'Bug' },
  ];
  const screened = screenedProject('INFRA', '10000', types, config, new Map([['5', 'redis-cache']]));
  assert.deepEqual(screened.issueTypeIds, ['1', '2', '5']);
  assert.deepEqual(screened.bundleOf, { '2': 'orders-db', '5': 'redis-cache' });
});
