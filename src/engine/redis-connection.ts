import { existsSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { startRedisServer } from './redis-server.ts';

/** A Redis connection plus how to let go of it. */
export interface RedisHandle {
  url: string;
  redis: Redis;
  /** True when this process started the server (it stops it on close). */
  owned: boolean;
  close(): Promise<void>;
}

/** Redis through Sentinel (ioredis' own support): the sentinels to ask, the master's name, the passwords. */
export interface RedisSentinelSettings {
  sentinels: { host: string; port: number }[];
  /** The master group name the sentinels monitor. */
  name: string;
  /** Password of the Redis servers (the master and its replicas). */
  password?: string;
  /** Password of the sentinels themselves, when they require one. */
  sentinelPassword?: string;
  /** TLS to the servers and the sentinels. */
  tls?: boolean;
}

/** Where the service's Redis is: a `redis://` or `rediss://` URL (password, TLS, db in it), or Sentinel. */
export interface RedisSettings {
  url?: string;
  sentinel?: RedisSentinelSettings;
}

/**
 * The ioredis client for `settings`: a URL is handed to ioredis as it is (it reads the password,
 * `rediss://` TLS and the db from it); Sentinel settings become ioredis' `sentinels` options, so
 * the client finds the current master and follows a failover. Every client waits out a Redis
 * restart instead of failing commands (`maxRetriesPerRequest: null`, as BullMQ requires).
 */
export function createRedisClient(settings: RedisSettings, extra: RedisOptions = {}): Redis {
  const base: RedisOptions = { maxRetriesPerRequest: null, ...extra };
  const s = settings.sentinel;
  if (s) {
    return new Redis({
      ...base,
      sentinels: s.sentinels,
      name: s.name,
      ...(s.password ? { password: s.password } : {}),
      ...(s.sentinelPassword ? { sentinelPassword: s.sentinelPassword } : {}),
      ...(s.tls ? { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
    });
  }
  if (!settings.url) throw new Error('createRedisClient: a URL or Sentinel settings are required');
  return new Redis(settings.url, base);
}

/** A description of where Redis is, without any password (for logs and the handle). */
export function describeRedis(settings: RedisSettings): string {
  if (settings.sentinel) return `redis-sentinel://${settings.sentinel.sentinels.map((x) => `${x.host}:${x.port}`).join(',')}/${settings.sentinel.name}`;
  const u = new URL(settings.url ?? '');
  if (u.password) u.password = '***';
  return u.toString();
}

/** The service's Redis settings (see the service configuration). */
export interface RedisConfig {
  REDIS_URL?: string;
  REDIS_SENTINELS?: string;
  REDIS_SENTINEL_NAME?: string;
  REDIS_PASSWORD?: string;
  REDIS_SENTINEL_PASSWORD?: string;
  REDIS_TLS?: boolean;
}

/** Where Redis is, as {@link openRedis} takes it: Sentinel when REDIS_SENTINELS is set, else REDIS_URL. */
export function redisSettings(cfg: RedisConfig): RedisSettings {
  if (!cfg.REDIS_SENTINELS || !cfg.REDIS_SENTINEL_NAME) return cfg.REDIS_URL ? { url: cfg.REDIS_URL } : {};
  const sentinels = cfg.REDIS_SENTINELS.split(',').map((hp) => {
    const [host, port] = hp.trim().split(':');
    return { host: host!, port: Number(port) };
  });
  return {
    sentinel: {
      sentinels,
      name: cfg.REDIS_SENTINEL_NAME,
      ...(cfg.REDIS_PASSWORD ? { password: cfg.REDIS_PASSWORD } : {}),
      ...(cfg.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: cfg.REDIS_SENTINEL_PASSWORD } : {}),
      ...(cfg.REDIS_TLS ? { tls: true } : {}),
    },
  };
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
 * Connects through Sentinel when `sentinel` is given, else to `url` (`REDIS_URL`), or, when both
 * are unset, to the private redis-server kept in `<dataDir>/redis` (AOF on): reused when one is
 * already running for that directory (the service and the CLI share it), started otherwise.
 */
export async function openRedis(opts: RedisSettings & { dataDir: string }): Promise<RedisHandle> {
  if (opts.sentinel || opts.url) {
    const redis = createRedisClient(opts);
    const url = opts.sentinel ? describeRedis(opts) : opts.url!;
    return { url, redis, owned: false, close: async () => void (await redis.quit().catch(() => redis.disconnect())) };
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
