import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config.ts';
import { ConfigError } from '../../src/engine/errors.ts';

test('defaults apply when nothing is set', () => {
  const cfg = loadConfig({});
  assert.equal(cfg.PORT, 8080);
  assert.equal(cfg.REDIS_URL, undefined);
  assert.deepEqual(cfg.BUNDLE_PATH, []);
});

test('colon-separated paths are split', () => {
  const cfg = loadConfig({ ARTIFACT_DEFINITIONS_PATH: 'a:b::c' });
  assert.deepEqual(cfg.ARTIFACT_DEFINITIONS_PATH, ['a', 'b', 'c']);
});

test('an invalid value names the variable and not the value', () => {
  assert.throws(
    () => loadConfig({ PORT: 'eighty' }),
    (e: unknown) => e instanceof ConfigError && e.variable === 'PORT' && /^PORT: /.test(e.message),
  );
  assert.throws(
    () => loadConfig({ REDIS_URL: 'http://s3cr3t@host' }),
    (e: unknown) => e instanceof ConfigError && e.variable === 'REDIS_URL' && !e.message.includes('s3cr3t'),
  );
});

test('enabling Jira without a webhook secret refuses to start', () => {
  assert.throws(
    () => loadConfig({ JIRA_BASE_URL: 'https://example.atlassian.net', JIRA_EMAIL: 'a@b.c', JIRA_API_TOKEN: 'x' }),
    (e: unknown) => e instanceof ConfigError && e.variable === 'JIRA_WEBHOOK_SECRET',
  );
});
