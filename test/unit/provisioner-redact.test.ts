import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REDACTED, Redactor, isSensitiveKey, sensitiveValuesAt } from '../../src/engine/redact.ts';

test('registered secrets are blanked in text, also in their JSON-escaped form', () => {
  const r = new Redactor(['s3cr3t-"quoted"-pw']);
  r.addSecret('another-secret-value');
  r.addSecret('ab'); // too short to blank in free text
  const text = 'connecting with another-secret-value then {"pw":"s3cr3t-\\"quoted\\"-pw"} about ab';
  const out = r.redactText(text);
  assert.doesNotMatch(out, /another-secret-value|s3cr3t/);
  assert.match(out, /about ab$/);
  assert.equal(out.split(REDACTED).length - 1, 2);
});

test('secret shapes are blanked without registration', () => {
  const r = new Redactor();
  assert.equal(r.redactText('password=hunter22 user=bob'), `password=${REDACTED} user=bob`);
  assert.equal(r.redactText('{"db_password": "x y z", "port": 5432}'), `{"db_password": "${REDACTED}", "port": 5432}`);
  assert.equal(r.redactText('redis://app:pa55word@127.0.0.1:6379/0'), `redis://app:${REDACTED}@127.0.0.1:6379/0`);
  assert.equal(r.redactText('Authorization: Bearer abcdef123456'), `Authorization: Bearer ${REDACTED}`);
  assert.equal(r.redactText('plain log line, 3 resources'), 'plain log line, 3 resources');
});

test('redaction is idempotent', () => {
  const r = new Redactor(['registered-secret']);
  const text = 'password=hunter22 "token": "abc123" redis://u:pw@h Bearer abcdef123456 registered-secret';
  const once = r.redactText(text);
  assert.equal(r.redactText(once), once);
});

test('sensitive keys are recognised by name', () => {
  for (const k of ['password', 'db_password', 'apiToken', 'client_secret', 'API_KEY', 'private_key']) assert.ok(isSensitiveKey(k), k);
  for (const k of ['username', 'password_length_hint', 'token_ttl', 'secret_name', 'port']) assert.ok(!isSensitiveKey(k), k);
});

test('values at $md.sensitive pointers (with * wildcards and relative to data) are found and redacted', () => {
  const artifact = { data: { authentication: { username: 'app', password: 'pw-123456', hostname: 'db' }, users: [{ name: 'a', key: 'k-aaaa' }, { name: 'b', key: 'k-bbbb' }] } };
  const pointers = ['/data/authentication/password', '/data/users/*/key'];
  assert.deepEqual(sensitiveValuesAt(artifact, pointers).sort(), ['k-aaaa', 'k-bbbb', 'pw-123456']);
  // a step that prints only the data part
  assert.deepEqual(sensitiveValuesAt(artifact.data, pointers).sort(), ['k-aaaa', 'k-bbbb', 'pw-123456']);

  const r = new Redactor();
  const red = r.redactValue(artifact, pointers);
  assert.equal(red.data.authentication.password, REDACTED);
  assert.equal(red.data.authentication.username, 'app');
  assert.equal(red.data.users[1].key, REDACTED);
  assert.equal(artifact.data.authentication.password, 'pw-123456', 'the input is not modified');

  r.addSensitiveFields(artifact, pointers);
  assert.equal(r.redactText('key k-bbbb and pw-123456'), `key ${REDACTED} and ${REDACTED}`);
});

test('strings under sensitive keys anywhere are registered', () => {
  const r = new Redactor();
  r.addSecretsUnderSensitiveKeys({ conn: { password: 'deep-secret-1', nested: [{ token: 'tok-99999' }] }, name: 'visible-name' });
  assert.equal(r.size, 2);
  assert.equal(r.redactText('deep-secret-1 tok-99999 visible-name'), `${REDACTED} ${REDACTED} visible-name`);
});
