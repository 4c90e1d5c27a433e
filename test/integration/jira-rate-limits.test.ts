/**
 * Jira's rate limits as Atlassian documents them: `Retry-After`, `X-RateLimit-Reset` (ISO 8601)
 * and `RateLimit-Reason` are read; a limit holds back only its own scope (one endpoint and
 * method for burst limits, one issue's writes for per-issue limits, everything for the points
 * quota); writes to an issue that met its limit are spaced out. Against the contract-checked
 * Jira sandbox, which answers each kind on demand.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/engine/logger.ts';
import { JiraClient, JiraRateLimitedError } from '../../src/surfaces/jira/client.ts';
import { issueOfPath, jiraLimitKind, JiraRateLimits, parseJiraRateLimitHeaders } from '../../src/surfaces/jira/rate-limits.ts';
import type { CallScope, RemoteFailure } from '../../src/surfaces/shared/remote-call.ts';
import { exampleSeed, PEOPLE, startJiraSandbox, type JiraSandbox } from '../../sandbox/jira/index.ts';

const NOW = Date.parse('2026-03-02T10:00:00.000Z');

describe('reading the headers', () => {
  test('Retry-After, X-RateLimit-Reset and RateLimit-Reason; the wait is the later of the two', () => {
    const h = parseJiraRateLimitHeaders({ 'Retry-After': '5', 'X-RateLimit-Reset': '2026-03-02T10:00:08.000Z', 'RateLimit-Reason': 'jira-burst-based' }, NOW);
    assert.deepEqual(h, { retryAfterMs: 5000, resetAfterMs: 8000, reason: 'jira-burst-based', waitMs: 8000 });
    // Jira's documented minute precision (yyyy-MM-ddTHH:mmZ) parses too.
    assert.equal(parseJiraRateLimitHeaders({ 'x-ratelimit-reset': '2026-03-02T10:01Z' }, NOW).waitMs, 60_000);
    // A reset already past waits nothing; Retry-After alone is enough.
    assert.deepEqual(parseJiraRateLimitHeaders({ 'x-ratelimit-reset': '2026-03-02T09:59Z', 'retry-after': '2' }, NOW), { retryAfterMs: 2000, resetAfterMs: 0, waitMs: 2000 });
    assert.deepEqual(parseJiraRateLimitHeaders({ 'ratelimit-reason': 'jira-quota-tenant-based' }, NOW), { reason: 'jira-quota-tenant-based' });
    assert.deepEqual(parseJiraRateLimitHeaders({ 'x-ratelimit-reset': 'soon', 'retry-after': 'later' }, NOW), {});
    assert.equal(parseJiraRateLimitHeaders({ 'retry-after': ['3'] }, NOW).waitMs, 3000);
  });

  test('each documented reason names its limit; issues are found in REST paths', () => {
    assert.equal(jiraLimitKind('jira-burst-based'), 'burst');
    assert.equal(jiraLimitKind('jira-per-issue-on-write'), 'per-issue');
    assert.equal(jiraLimitKind('jira-quota-tenant-based'), 'quota');
    assert.equal(jiraLimitKind('jira-quota-global-based'), 'quota');
    assert.equal(jiraLimitKind('something-new'), 'other');
    assert.equal(jiraLimitKind(undefined), 'other');
    assert.equal(issueOfPath('/rest/api/3/issue/INFRA-7/comment'), 'INFRA-7');
    assert.equal(issueOfPath('/rest/api/3/issue/10001'), '10001');
    assert.equal(issueOfPath('/rest/servicedeskapi/request/OPS-2/approval/4'), 'OPS-2');
    assert.equal(issueOfPath('/rest/api/3/issuetypescreenscheme/project'), undefined);
  });
});

describe('holding calls back by scope', () => {
  const clock = { t: NOW };
  const limits = () => new JiraRateLimits({ now: () => clock.t, perIssueWriteSpacingMs: 500, perIssueCooldownMs: 10_000 });
  const write = (op: string, subject?: string): CallScope => ({ op, write: true, ...(subject ? { subject } : {}) });
  const read = (op: string, subject?: string): CallScope => ({ op, write: false, ...(subject ? { subject } : {}) });
  const limited = (reason: string): RemoteFailure => ({ status: 429, messages: [], detail: 'HTTP 429', rateLimitReason: reason });

  test('a burst limit holds its endpoint and method only', () => {
    clock.t = NOW;
    const l = limits();
    l.limited(write('POST /rest/api/3/issue/{key}/comment', 'A-1'), limited('jira-burst-based'), 2000);
    assert.equal(l.delay(write('POST /rest/api/3/issue/{key}/comment', 'B-1')), 2000);
    assert.equal(l.delay(write('PUT /rest/api/3/issue/{key}/properties/{property}', 'A-1')), 0);
    assert.equal(l.delay(read('GET /rest/api/3/issue/{key}/comment', 'A-1')), 0);
    clock.t += 2000;
    assert.equal(l.delay(write('POST /rest/api/3/issue/{key}/comment', 'B-1')), 0);
  });

  test('a per-issue limit holds that issue’s writes, then spaces them out; other issues and reads go on', () => {
    clock.t = NOW;
    const l = limits();
    l.limited(write('POST /rest/api/3/issue/{key}/comment', 'A-1'), limited('jira-per-issue-on-write'), 1000);
    assert.equal(l.delay(write('POST /rest/api/3/issue/{key}/comment', 'B-1')), 0, 'another issue');
    assert.equal(l.delay(read('GET /rest/api/3/issue/{key}', 'A-1')), 0, 'a read of the same issue');
    // The limited call's own retry takes the slot at +1000; the next writes follow 500 ms apart.
    assert.equal(l.delay(write('PUT /rest/api/3/issue/{key}/properties/{property}', 'A-1')), 1500);
    assert.equal(l.delay(write('POST /rest/api/3/issue/{key}/comment', 'A-1')), 2000);
    clock.t += 2500;
    l.passed(write('POST /rest/api/3/issue/{key}/comment', 'A-1'));
    assert.equal(l.delay(write('POST /rest/api/3/issue/{key}/comment', 'A-1')), 0, 'the next free slot is now');
    assert.equal(l.delay(write('POST /rest/api/3/issue/{key}/comment', 'A-1')), 500, 'still spaced during the cool-down');
    clock.t += 20_000;
    assert.equal(l.delay(write('POST /rest/api/3/issue/{key}/comment', 'A-1')), 0);
    assert.equal(l.delay(write('POST /rest/api/3/issue/{key}/comment', 'A-1')), 0, 'after the cool-down, not spaced any more');
  });

  test('the points quota holds every call until it resets', () => {
    clock.t = NOW;
    const l = limits();
    l.limited(read('GET /rest/api/3/field'), limited('jira-quota-tenant-based'), 600_000);
    assert.equal(l.delay(write('POST /rest/api/3/issue/{key}/comment', 'B-1')), 600_000);
    assert.equal(l.delay(read('GET /rest/api/3/myself')), 600_000);
  });
});

describe('the Jira client against the sandbox', () => {
  let sb: JiraSandbox;
  before(async () => {
    sb = await startJiraSandbox({ contract: true, seed: exampleSeed() });
  });
  after(async () => {
    await sb?.stop();
  });

  /** A client whose rate-limit waits are recorded and end only when the test says so. */
  function gatedClient(): { client: JiraClient; sleeps: number[]; release: () => void } {
    const sleeps: number[] = [];
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const client = new JiraClient({
      baseUrl: sb.url,
      email: sb.credentials.email,
      apiToken: sb.credentials.apiToken,
      logger: createLogger('silent'),
      sleep: async (ms) => {
        sleeps.push(ms);
        await gate;
      },
    });
    return { client, sleeps, release };
  }
  const doc = (text: string) => ({ type: 'doc' as const, version: 1 as const, content: [{ type: 'paragraph', content: [{ type: 'text', text }] }] });

  test('a per-issue 429 on one issue: its write waits and is retried while writes to another issue go on', async () => {
    const a = sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 'busy issue' }).key;
    const b = sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 'quiet issue' }).key;
    const { client, sleeps, release } = gatedClient();
    sb.rateLimit(2, 1, { issue: a });
    const limitedWrite = client.addComment(a, doc('on the busy issue'));
    // Wait until the client has met the first 429 (the write now waits on the gate).
    while (sleeps.length === 0) await new Promise((r) => setImmediate(r));
    assert.deepEqual(sleeps, [1000], 'Retry-After of the per-issue limit');
    // Writes to the other issue are not held back, and reads of the busy one neither.
    await client.addComment(b, doc('on the quiet issue'));
    await client.setIssueProperty(b, 'ticket-surface.test', { n: 1 });
    assert.equal(await client.getStatus(a), 'Open');
    assert.deepEqual(sleeps, [1000], 'nothing else waited');
    assert.ok(!sb.calls.some((c) => c.method === 'POST' && c.status === 201 && c.path.includes(`/issue/${a}/comment`)), 'the busy issue’s write has not gone through yet');
    release();
    await limitedWrite;
    const onA = sb.calls.filter((c) => c.method === 'POST' && c.path.includes(`/issue/${a}/comment`)).map((c) => c.status);
    assert.deepEqual(onA, [429, 429, 201]);
    assert.equal(sb.calls.filter((c) => c.status === 429 && c.path.includes(`/issue/${b}/`)).length, 0);
    // Later writes to the busy issue are spaced out; writes to the quiet one are not.
    const before = sleeps.length;
    await client.setIssueProperty(b, 'ticket-surface.test', { n: 2 });
    assert.equal(sleeps.length, before, 'the quiet issue is not paced');
    await client.setIssueProperty(a, 'ticket-surface.test', { n: 3 });
    assert.equal(sleeps.length, before + 1, 'the busy issue is paced');
    assert.deepEqual(sb.violations(), []);
  });

  test('a burst limit on one endpoint leaves the others alone; the quota stops every call until it resets', async () => {
    const key = sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: 'burst' }).key;
    const { client, release } = gatedClient();
    release();
    sb.rateLimit(1, 30, { path: '/comment', methods: ['POST'], reason: 'jira-burst-based' });
    await assert.rejects(client.addComment(key, doc('x')), (e: unknown) => e instanceof JiraRateLimitedError && e.retryAfterMs >= 29_000);
    const seen = sb.calls.length;
    // The same endpoint is held back without calling Jira; another endpoint goes through.
    await assert.rejects(client.addComment(key, doc('y')), (e: unknown) => e instanceof JiraRateLimitedError);
    assert.equal(sb.calls.length, seen, 'the held-back call never reached Jira');
    await client.setIssueProperty(key, 'ticket-surface.test', 1);
    assert.equal(sb.calls.length, seen + 1);

    const quota = gatedClient();
    quota.release();
    sb.rateLimit(1, 1800, { reason: 'jira-quota-tenant-based' });
    await assert.rejects(quota.client.getStatus(key), (e: unknown) => e instanceof JiraRateLimitedError && e.retryAfterMs >= 1_790_000);
    const after = sb.calls.length;
    await assert.rejects(quota.client.setIssueProperty(key, 'ticket-surface.test', 2), (e: unknown) => e instanceof JiraRateLimitedError);
    await assert.rejects(quota.client.myself(), (e: unknown) => e instanceof JiraRateLimitedError);
    assert.equal(sb.calls.length, after, 'no call reached Jira while the quota is spent');
    assert.deepEqual(sb.violations(), []);
  });
});
