import { after, before } from 'node:test';
import { Redis } from 'ioredis';
import { startRedisServer, type EmbeddedRedis } from '../../src/engine/redis-server.ts';

/**
 * Starts a throwaway real redis-server for the calling test file and stops it afterwards.
 * Use `ctx.url` / `ctx.client()` inside tests (after `before` has run).
 */
export function useRedis(): {
  readonly url: string;
  client(): Redis;
  readonly server: EmbeddedRedis;
  ready(): Promise<void>;
  /** Runs `fn` after the tests, before the server stops (close services that hold connections). */
  cleanup(fn: () => Promise<unknown> | unknown): void;
} {
  let server: EmbeddedRedis | undefined;
  const clients: Redis[] = [];
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  let starting: Promise<void> | undefined;
  // Idempotent so a test file's own before() hook can await it whatever order hooks run in.
  const ready = () =>
    (starting ??= startRedisServer().then((s) => {
      server = s;
    }));
  before(ready);
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
    await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
    await server?.stop();
  });
  return {
    ready,
    cleanup: (fn) => void cleanups.push(fn),
    get url() {
      if (!server) throw new Error('redis not started yet');
      return server.url;
    },
    get server() {
      if (!server) throw new Error('redis not started yet');
      return server;
    },
    client() {
      if (!server) throw new Error('redis not started yet');
      const c = new Redis(server.url, { maxRetriesPerRequest: null });
      clients.push(c);
      return c;
    },
  };
}

/** A unique name per test (queue names, key prefixes). */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}
