import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useRedis } from '../helpers/redis.ts';

const redis = useRedis();

test('a throwaway redis-server answers on its own port', async () => {
  const c = redis.client();
  assert.equal(await c.ping(), 'PONG');
  await c.set('k', 'v');
  assert.equal(await c.get('k'), 'v');
});
