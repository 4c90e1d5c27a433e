import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ConfigError, UserError, ValidationError } from '../../src/engine/errors.ts';
import {
  JiraSignatureError,
  JiraWebhookHeaderError,
  normalizeJiraDelivery,
  signJiraBody,
  verifyJiraSignature,
  type JiraIntakeConfig,
} from '../../src/surfaces/jira/webhook.ts';
import { parseCommand } from '../../src/surfaces/shared/surface-event.ts';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/jira/${name}`, import.meta.url), 'utf8');
const realBody = fixture('webhook-jira-issue_created.cloud-2024.json');
const realHeaders = JSON.parse(fixture('webhook-delivery-headers.cloud-2024.json')) as Record<string, string>;
const config: JiraIntakeConfig = { projects: { KAN: { issueTypes: ['Task'] } } };

describe('verifyJiraSignature', () => {
  test("Atlassian's documented test vector verifies", () => {
    const header = 'sha256=a4771c39fbe90f317c7824e83ddef3caae9cb3d976c214ace1f2937e133263c9';
    assert.doesNotThrow(() => verifyJiraSignature(Buffer.from('Hello World!'), header, "It's a Secret to Everybody"));
    assert.equal(signJiraBody('Hello World!', "It's a Secret to Everybody"), header);
  });

  test('verifies the raw bytes of the real delivery, and one changed byte fails', () => {
    const secret = 'a-webhook-secret-of-some-length';
    const raw = Buffer.from(realBody);
    const header = signJiraBody(raw, secret);
    verifyJiraSignature(raw, header, secret);
    const tampered = Buffer.from(realBody.replace('KAN-22', 'KAN-23'));
    assert.throws(() => verifyJiraSignature(tampered, header, secret), (e: unknown) => e instanceof JiraSignatureError && e.problem === 'mismatch');
    // Re-serialized JSON is not the raw body: whitespace changes break the signature.
    const reserialized = Buffer.from(JSON.stringify(JSON.parse(realBody)));
    assert.throws(() => verifyJiraSignature(reserialized, header, secret), JiraSignatureError);
  });

  test('missing, malformed and mismatched headers are told apart and name the header', () => {
    const body = Buffer.from('{}');
    const cases: [string | undefined, string][] = [
      [undefined, 'missing'],
      ['', 'missing'],
      ['sha1=0123456789abcdef0123456789abcdef01234567', 'malformed'],
      ['sha256=xyz', 'malformed'],
      ['a4771c39fbe90f317c7824e83ddef3caae9cb3d976c214ace1f2937e133263c9', 'malformed'],
      ['sha256=' + 'ab'.repeat(32), 'mismatch'],
    ];
    for (const [header, problem] of cases) {
      assert.throws(
        () => verifyJiraSignature(body, header, 'secret-secret-secret'),
        (e: unknown) => e instanceof JiraSignatureError && e.problem === problem && e.code === 'unauthorized' && e.message.startsWith('X-Hub-Signature ') && e instanceof UserError,
        `${header} should be ${problem}`,
      );
    }
  });

  test('no secret configured is a configuration error, not a pass', () => {
    assert.throws(() => verifyJiraSignature(Buffer.from('{}'), 'sha256=' + '0'.repeat(64), ''), ConfigError);
  });
});

describe('normalizeJiraDelivery with the real Jira Cloud delivery', () => {
  test('issue_created in a configured project becomes request.created', () => {
    const ev = normalizeJiraDelivery(realHeaders, JSON.parse(realBody), config);
    assert.equal(ev.kind, 'request.created');
    assert.equal(ev.deliveryId, '69312270414585119');
    assert.equal(ev.retry, 0);
    assert.equal(ev.surface, 'jira');
    assert.equal(ev.ref, 'KAN-22');
    assert.equal(ev.ticketId, '10021');
    assert.equal(ev.url, 'https://helloworld-test.atlassian.net/browse/KAN-22');
    assert.deepEqual(ev.actor, { id: '712020:f1ad7cfd-7f82-4dc0-85e4-8bc47bcc08e4', displayName: 'Sirajudheen MK' });
    assert.equal(ev.project, 'KAN');
    assert.equal(ev.issueType, 'Task');
    assert.equal(ev.fields.summary, 'Add back button to pages');
    assert.ok('customfield_10019' in ev.fields);
    assert.equal(ev.at, '2024-12-29T03:11:23.659Z');
  });

  test('the retry header is read; a configured base URL wins for browse links', () => {
    const ev = normalizeJiraDelivery({ ...realHeaders, 'X-Atlassian-Webhook-Retry': '2' }, JSON.parse(realBody), { ...config, baseUrl: 'https://jira.example.com/' });
    assert.equal(ev.retry, 2);
    assert.equal(ev.url, 'https://jira.example.com/browse/KAN-22');
  });

  test('unknown project or issue type is ignored with the reason', () => {
    const other = normalizeJiraDelivery(realHeaders, JSON.parse(realBody), { projects: { OPS: { issueTypes: ['Task'] } } });
    assert.equal(other.kind, 'ignored');
    assert.match(other.ignoreReason!, /project KAN is not configured/);
    const type = normalizeJiraDelivery(realHeaders, JSON.parse(realBody), { projects: { KAN: { issueTypes: ['Database request'] } } });
    assert.equal(type.kind, 'ignored');
    assert.match(type.ignoreReason!, /issue type Task is not a request type in project KAN/);
    const proto = JSON.parse(realBody);
    proto.issue.fields.project.key = 'constructor';
    assert.equal(normalizeJiraDelivery(realHeaders, proto, config).kind, 'ignored');
  });

  test('events the service caused itself are ignored', () => {
    const ev = normalizeJiraDelivery(realHeaders, JSON.parse(realBody), { ...config, selfAccountId: '712020:f1ad7cfd-7f82-4dc0-85e4-8bc47bcc08e4' });
    assert.equal(ev.kind, 'ignored');
    assert.match(ev.ignoreReason!, /itself/);
  });

  test('a missing delivery id names the header', () => {
    const { ['x-atlassian-webhook-identifier']: _, ...without } = realHeaders;
    assert.throws(() => normalizeJiraDelivery(without, JSON.parse(realBody), config), (e: unknown) => e instanceof JiraWebhookHeaderError && e.header === 'X-Atlassian-Webhook-Identifier');
  });

  test('a payload lacking what the service reads is refused with JSON pointers', () => {
    const broken = JSON.parse(realBody);
    delete broken.issue.fields.issuetype;
    broken.issue.key = 42;
    assert.throws(
      () => normalizeJiraDelivery(realHeaders, broken, config),
      (e: unknown) =>
        e instanceof ValidationError &&
        e.issues.some((i) => i.pointer === '/issue/key') &&
        e.issues.some((i) => i.pointer === '/issue/fields/issuetype'),
    );
    assert.throws(() => normalizeJiraDelivery(realHeaders, 'not json', config), ValidationError);
  });
});

describe('normalizeJiraDelivery: updates and comments', () => {
  const created = JSON.parse(realBody);
  const updated = (items: unknown[]): unknown => ({ ...created, webhookEvent: 'jira:issue_updated', issue_event_type_name: 'issue_updated', changelog: { id: '1', items } });

  test('a status change becomes request.status_changed with from/to names', () => {
    const ev = normalizeJiraDelivery(realHeaders, updated([{ field: 'status', fieldtype: 'jira', fieldId: 'status', from: '10000', fromString: 'Awaiting approval', to: '10001', toString: 'Approved' }]), config);
    assert.equal(ev.kind, 'request.status_changed');
    assert.equal(ev.fromStatus, 'Awaiting approval');
    assert.equal(ev.toStatus, 'Approved');
    assert.deepEqual(ev.changed, ['status']);
  });

  test('field changes become request.updated with the changed field ids; no change is ignored', () => {
    const ev = normalizeJiraDelivery(
      realHeaders,
      updated([
        { field: 'Expected data size (GiB)', fieldtype: 'custom', fieldId: 'customfield_10042', fromString: '2', toString: '50' },
        { field: 'summary', fieldtype: 'jira', fieldId: 'summary', fromString: 'a', toString: 'b' },
      ]),
      config,
    );
    assert.equal(ev.kind, 'request.updated');
    assert.deepEqual(ev.changed, ['customfield_10042', 'summary']);
    assert.equal(normalizeJiraDelivery(realHeaders, updated([]), config).kind, 'ignored');
  });

  const comment = (body: unknown, author = { accountId: 'acc-approver', displayName: 'Avery Approver', active: true }): unknown => ({
    timestamp: 1735441900000,
    webhookEvent: 'comment_created',
    comment: { id: '10077', author, body, created: '2024-12-29T08:41:40.000+0530' },
    issue: { id: created.issue.id, key: created.issue.key, self: created.issue.self, fields: { summary: 'x', project: created.issue.fields.project, issuetype: created.issue.fields.issuetype, status: created.issue.fields.status } },
  });

  test('a /command comment (v2 string body) becomes a command by the comment author', () => {
    const ev = normalizeJiraDelivery(realHeaders, comment('/ask most-expensive --top 3\nthanks!'), config);
    assert.equal(ev.kind, 'command');
    assert.deepEqual(ev.command, { name: 'ask', args: ['most-expensive'], flags: { top: '3' }, raw: '/ask most-expensive --top 3' });
    assert.equal(ev.actor.id, 'acc-approver');
    assert.equal(ev.commentId, '10077');
  });

  test('an ADF comment body is read too; plain comments are ignored', () => {
    const adf = { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text: '/apply' }] }] };
    assert.equal(normalizeJiraDelivery(realHeaders, comment(adf), config).command?.name, 'apply');
    const plain = normalizeJiraDelivery(realHeaders, comment('looks good to me /apply'), config);
    assert.equal(plain.kind, 'ignored');
    assert.match(plain.ignoreReason!, /not a command/);
  });

  test('other events are ignored with the event name', () => {
    const ev = normalizeJiraDelivery(realHeaders, { ...created, webhookEvent: 'jira:issue_deleted' }, config);
    assert.equal(ev.kind, 'ignored');
    assert.match(ev.ignoreReason!, /jira:issue_deleted is not handled/);
  });
});

describe('parseCommand', () => {
  test('names, positional args, flags with values, --k=v, bare flags and quotes', () => {
    assert.deepEqual(parseCommand('  \n/Plan'), { name: 'plan', args: [], flags: {}, raw: '/Plan' });
    assert.deepEqual(parseCommand('/ask "most expensive" --top=3 --json'), { name: 'ask', args: ['most expensive'], flags: { top: '3', json: true }, raw: '/ask "most expensive" --top=3 --json' });
    assert.equal(parseCommand('please /apply'), undefined);
    assert.equal(parseCommand('/'), undefined);
  });
});
