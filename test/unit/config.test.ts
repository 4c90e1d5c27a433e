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

test('Redis: a rediss:// URL with a password and Sentinel settings reach ioredis as its own options, no password in the description', async () => {
  const { createRedisClient, describeRedis, redisSettings } = await import('../../src/engine/redis-connection.ts');
  const url = loadConfig({ REDIS_URL: 'rediss://svc:pa55-w0rd-secret@redis.internal:6380/2' });
  const viaUrl = redisSettings(url);
  const tls = createRedisClient(viaUrl, { lazyConnect: true });
  assert.deepEqual(
    { host: tls.options.host, port: tls.options.port, username: tls.options.username, password: tls.options.password, db: tls.options.db, tls: Boolean(tls.options.tls) },
    { host: 'redis.internal', port: 6380, username: 'svc', password: 'pa55-w0rd-secret', db: 2, tls: true },
  );
  assert.equal(tls.options.maxRetriesPerRequest, null, 'commands wait out a Redis restart');
  assert.doesNotMatch(describeRedis(viaUrl), /pa55-w0rd-secret/);
  tls.disconnect();

  const sentinel = loadConfig({
    REDIS_SENTINELS: '10.0.0.1:26379, 10.0.0.2:26379',
    REDIS_SENTINEL_NAME: 'ts-master',
    REDIS_PASSWORD: 'server-pass-123',
    REDIS_SENTINEL_PASSWORD: 'sentinel-pass-456',
    REDIS_TLS: 'true',
  });
  const s = redisSettings(sentinel);
  const client = createRedisClient(s, { lazyConnect: true });
  assert.deepEqual(client.options.sentinels, [{ host: '10.0.0.1', port: 26379 }, { host: '10.0.0.2', port: 26379 }]);
  assert.equal(client.options.name, 'ts-master');
  assert.equal(client.options.password, 'server-pass-123');
  assert.equal(client.options.sentinelPassword, 'sentinel-pass-456');
  assert.equal(client.options.enableTLSForSentinelMode, true);
  assert.equal(describeRedis(s), 'redis-sentinel://10.0.0.1:26379,10.0.0.2:26379/ts-master');
  client.disconnect();

  assert.throws(() => loadConfig({ REDIS_SENTINELS: '10.0.0.1:26379' }), (e: unknown) => e instanceof ConfigError && e.variable === 'REDIS_SENTINEL_NAME');
  assert.throws(() => loadConfig({ REDIS_SENTINELS: 'no-port', REDIS_SENTINEL_NAME: 'm' }), (e: unknown) => e instanceof ConfigError && e.variable === 'REDIS_SENTINELS');
});
