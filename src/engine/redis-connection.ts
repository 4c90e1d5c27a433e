import { existsSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { startRedisServer } from './redis-server.ts';

/** A Redis connection plus how to let go of it. */
export interface RedisHandle {
  url: string;
  redis: Redis;
  /** True when this process started the server (it stops it on close). */
  owned: boolean;
  close(): Promise<void>;
}

async function pingable(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 });
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

/**
 * Connects to `REDIS_URL`, or, when it is unset, to the private redis-server kept in
 * `<dataDir>/redis` (AOF on): reused when one is already running for that directory (the
 * service and the CLI share it), started otherwise.
 */
export async function openRedis(opts: { url?: string; dataDir: string }): Promise<RedisHandle> {
  if (opts.url) {
    const redis = new Redis(opts.url, { maxRetriesPerRequest: null });
    return { url: opts.url, redis, owned: false, close: async () => void (await redis.quit().catch(() => redis.disconnect())) };
  }
  const dir = resolve(opts.dataDir, 'redis');
  mkdirSync(dir, { recursive: true });
  const portFile = join(dir, 'port');
  if (existsSync(portFile)) {
    const url = `redis://127.0.0.1:${readFileSync(portFile, 'utf8').trim()}`;
    if (await pingable(url)) {
      const redis = new Redis(url, { maxRetriesPerRequest: null });
      return { url, redis, owned: false, close: async () => void (await redis.quit().catch(() => redis.disconnect())) };
    }
  }
  const server = await startRedisServer({ dataDir: dir });
  writeFileSync(portFile, String(server.port));
  const redis = new Redis(server.url, { maxRetriesPerRequest: null });
  return {
    url: server.url,
    redis,
    owned: true,
    close: async () => {
      await redis.quit().catch(() => redis.disconnect());
      await server.stop();
      rmSync(portFile, { force: true });
    },
  };
}
