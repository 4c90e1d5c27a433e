/**
 * The Jira sandbox's ADF rules and JQL subset in isolation: what is accepted, what is refused and
 * with which message, and how ADF flattens into the v2 (webhook) text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adfFromText, adfProblem, adfStoredLength, adfToText, NOT_ADF_MESSAGE } from '../../sandbox/jira/adf.ts';
import { JqlError, matchesJql, parseJql } from '../../sandbox/jira/jql.ts';

test('adfProblem accepts documents and names the first broken node', () => {
  assert.equal(adfProblem(adfFromText('a\nb')), null);
  assert.equal(adfProblem('text'), NOT_ADF_MESSAGE);
  assert.equal(adfProblem({ type: 'paragraph', version: 1, content: [] }), NOT_ADF_MESSAGE);
  assert.match(adfProblem({ type: 'doc', version: 1 }) ?? '', /content array/);
  assert.match(adfProblem({ type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text' }] }] }) ?? '', /\/content\/0\/content\/0 needs a non-empty text/);
  assert.match(adfProblem({ type: 'doc', version: 1, content: [{ content: [] }] }) ?? '', /\/content\/0 has no type/);
  assert.match(adfProblem({ type: 'doc', version: 1, content: [{ type: 'doc', version: 1, content: [] }] }) ?? '', /nested doc/);
});

test('stored length counts the serialized document, markup included', () => {
  const d = adfFromText('hello');
  assert.equal(adfStoredLength(d), JSON.stringify(d).length);
  assert.ok(adfStoredLength(d) > 'hello'.length);
});

test('adfToText flattens blocks, tables and mentions', () => {
  const d = {
    type: 'doc',
    version: 1,
    content: [
      { type: 'heading', attrs: { level: 2 }, content: [{ type: 'text', text: 'Plan' }] },
      {
        type: 'table',
        content: [
          { type: 'tableRow', content: [{ type: 'tableHeader', content: [{ type: 'paragraph', content: [{ type: 'text', text: 'action' }] }] }] },
          { type: 'tableRow', content: [{ type: 'tableCell', content: [{ type: 'paragraph', content: [{ type: 'text', text: 'add' }] }] }] },
        ],
      },
      { type: 'paragraph', content: [{ type: 'mention', attrs: { id: 'x', text: '@Ari' } }, { type: 'text', text: ' please approve' }] },
    ],
  };
  assert.equal(adfToText(d), 'Plan\n|action\n|\n|add\n|\n@Ari please approve');
  assert.equal(adfToText('already text'), 'already text');
});

test('JQL subset: AND of =, !=, IN, NOT IN with ORDER BY', () => {
  const q = parseJql('project = INFRA AND issuetype in ("Infrastructure request", 10002) AND status != Done ORDER BY created DESC');
  assert.deepEqual(q.orderBy, { field: 'created', direction: 'DESC' });
  const view = { project: ['INFRA', '10000'], issuetype: ['Infrastructure request', '10001'], status: ['Open'], key: ['INFRA-1'], reporter: [], assignee: [], labels: [] };
  assert.equal(matchesJql(q, view), true);
  assert.equal(matchesJql(q, { ...view, status: ['done'] }), false, 'names compare case-insensitively');
  assert.equal(matchesJql(parseJql("status NOT IN ('Open')"), view), false);
  assert.equal(matchesJql(parseJql('project = 10000'), view), true, 'ids work too');
});

test('JQL outside the subset is refused with a Jira-like message', () => {
  assert.throws(() => parseJql('project = A OR project = B'), (e) => e instanceof JqlError && /only AND/.test(e.message));
  assert.throws(() => parseJql('created = -1d'), (e) => e instanceof JqlError && /Field 'created' does not exist/.test(e.message));
  assert.throws(() => parseJql('project > A'), /operator '>' is not supported/);
  assert.throws(() => parseJql('project ~ A'), JqlError);
  assert.throws(() => parseJql('project = "A'), /unterminated/);
  assert.throws(() => parseJql('project in (A, B'), JqlError);
});
