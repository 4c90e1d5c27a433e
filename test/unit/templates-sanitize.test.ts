import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { REDACTED, redactSecrets, sanitize } from '../../src/surfaces/shared/sanitize.ts';
import { MessageRenderer } from '../../src/surfaces/shared/messages.ts';
import { buildRequestView } from '../../src/surfaces/shared/request-view.ts';
import { renderText } from '../../src/surfaces/servicenow/text-renderer.ts';
import { renderJiraComment } from '../../src/surfaces/jira/adf.ts';
import { request } from '../fixtures/golden/views.ts';

describe('sanitize', () => {
  test('strips control, bidi-override and zero-width characters; folds line breaks unless multiline', () => {
    assert.equal(sanitize('a\u0000b\u0007c\u202Ed\u2066e\u200Bf\uFEFFg\u009Bh'), 'abcdefgh');
    assert.equal(sanitize('one\r\ntwo\tthree'), 'one two three');
    assert.equal(sanitize('one\r\ntwo', { multiline: true }), 'one\ntwo');
  });

  test('neutralises Jira and ServiceNow mentions, keeps e-mail addresses', () => {
    assert.equal(sanitize('ping [~accountid:5b10a2844c20165700ede21g] now'), 'ping ~accountid:5b10a2844c20165700ede21g now');
    assert.equal(sanitize('[~admin]'), '~admin');
    assert.equal(sanitize('@here and @[6816f79cc0a8016401c5a33be04be441:Abel Tuter]'), '\uFF20here and \uFF20[6816f79cc0a8016401c5a33be04be441:Abel Tuter]');
    assert.equal(sanitize('mail dana@example.com'), 'mail dana@example.com');
  });

  test('neutralises markup the surfaces would interpret in plain text', () => {
    assert.equal(sanitize('[code]<img src=x onerror=alert(1)>[/code]'), '(code)<img src=x onerror=alert(1)>(/code)');
    assert.equal(sanitize('{html}<b>x</b>{html} {noformat}'), '(html}<b>x</b>(html} (noformat}');
  });

  test('redacts secrets by shape and by value', () => {
    const cases: [string, string][] = [
      ['password=hunter2hunter2 host=x', `password=${REDACTED} host=x`],
      ['"api_key": "abcd1234efgh"', `"api_key": "${REDACTED}"`],
      ['postgres://app:pa55w0rd@db:5432/x', `postgres://app:${REDACTED}@db:5432/x`],
      ['Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc', `Authorization: Bearer ${REDACTED}`],
      ['key AKIAIOSFODNN7EXAMPLE here', `key ${REDACTED} here`],
      ['ghp_0123456789abcdefghijABCDEFGHIJ012345', REDACTED],
      ['-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----', REDACTED],
    ];
    for (const [input, want] of cases) assert.equal(redactSecrets(input), want, input);
    assert.equal(redactSecrets('the value is Tr0ub4dor&3 ok', ['Tr0ub4dor&3']), `the value is ${REDACTED} ok`);
    assert.equal(redactSecrets('password: not shown here'.replace('not shown here', '[redacted]')), 'password: [redacted]');
  });

  test('a hostile display name and field value reach neither ADF nor text as markup or mentions', () => {
    const renderer = new MessageRenderer();
    const hostile = '[~accountid:abc] @channel\u202E [code]<script>x</script>[/code] | a | b |\n# H token=abcdefgh12345';
    const view = buildRequestView(request({ state: 'invalid', plan: undefined, decisions: [], actor: { id: 'x', displayName: hostile }, issues: [{ pointer: '/x', field: hostile, message: 'bad' }] }), {});
    for (const name of ['status', 'answer'] as const) {
      const blocks = renderer.render(name, { view });
      for (const out of [renderText(blocks), JSON.stringify(renderJiraComment(blocks).doc)]) {
        assert.ok(!out.includes('[~accountid'), 'mention survived');
        assert.ok(!out.includes('@channel'), '@-mention survived');
        assert.ok(!out.includes('\u202E'), 'bidi override survived');
        assert.ok(!/\[code\]/i.test(out), 'ServiceNow [code] survived');
        assert.ok(!out.includes('abcdefgh12345'), 'token survived');
      }
    }
  });
});
