/**
 * Counting what a process asks of Redis: commands from the server's `INFO commandstats` (deltas,
 * taken on a connection of the bench's own, whose INFO calls are left out), and client round
 * trips from a counting wrapper on the socket writes of this process's connections to that Redis.
 */
import { Socket } from 'node:net';
import { Redis } from 'ioredis';

/** Calls per command (lower case, e.g. `hmget`, `evalsha`) and the server's total. */
export interface CommandStats {
  byCommand: Map<string, number>;
  /** `total_commands_processed` of `INFO stats`. */
  total: number;
}

/** The server's command counters now. */
export async function commandStats(redis: Redis): Promise<CommandStats> {
  const [cmd, stats] = await Promise.all([redis.info('commandstats'), redis.info('stats')]);
  const byCommand = new Map<string, number>();
  for (const m of cmd.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) byCommand.set(m[1]!, Number(m[2]));
  const total = Number(/^total_commands_processed:(\d+)/m.exec(stats)?.[1] ?? Number.NaN);
  return { byCommand, total };
}

/** What happened between two readings, without the `info` calls of the readings themselves. */
export function statsDelta(before: CommandStats, after: CommandStats): CommandStats {
  const byCommand = new Map<string, number>();
  for (const [k, v] of after.byCommand) {
    const d = v - (before.byCommand.get(k) ?? 0) - (k === 'info' ? 2 : 0);
    if (d > 0) byCommand.set(k, d);
  }
  return { byCommand, total: after.total - before.total - 2 };
}

/**
 * Counts socket writes of this process to `port` on loopback: ioredis writes each command on its
 * own and a pipeline (or MULTI block) in one write, so a write is one client round trip.
 * Blocking reads of idle workers count too; writes of the `ignore`d connections (the bench's own)
 * do not. `stop()` restores the socket. With `BENCH_REDIS_SITES` set (a number: stack frames
 * shown, default 3) each write is also attributed to its command(s), its BullMQ queue if any and
 * the code that sent it, and the first `count()` prints the sites, most writes first.
 */
export function countRedisWrites(port: number, ignore: Redis[] = []): { count(): number; stop(): void } {
  const own = (s: Socket) => ignore.some((r) => (r as unknown as { stream?: Socket }).stream === s);
  const proto = Socket.prototype as unknown as { write: (...args: unknown[]) => boolean };
  const original = proto.write;
  const sites = process.env.BENCH_REDIS_SITES ? new Map<string, number>() : undefined;
  let n = 0;
  let printed = false;
  proto.write = function (this: Socket, ...args: unknown[]) {
    if (this.remotePort === port && !own(this)) {
      n += 1;
      if (sites) {
        const site = callSite(args[0]);
        sites.set(site, (sites.get(site) ?? 0) + 1);
      }
    }
    return original.apply(this, args);
  };
  return {
    count: () => {
      if (sites && !printed) {
        printed = true;
        printSites(sites, n);
      }
      return n;
    },
    stop: () => {
      proto.write = original;
    },
  };
}

/** The command of a RESP write (its first bulk string) and the first frames of the code that sent it (BENCH_REDIS_SITES=1). */
function callSite(data: unknown): string {
  const text = typeof data === 'string' ? data : Buffer.isBuffer(data) ? data.subarray(0, 400).toString('latin1') : '';
  const commands = [...text.matchAll(/\*\d+\r\n\$\d+\r\n([A-Za-z]+)\r\n/g)].map((m) => m[1]!.toLowerCase());
  const depth = Number(process.env.BENCH_REDIS_SITES) > 1 ? Number(process.env.BENCH_REDIS_SITES) : 3;
  const frames = (new Error().stack ?? '')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().replace(/^at (async )?/, ''))
    .filter((l) => !/node:|ioredis|redis-count|node_modules\/(standard-as-callback|denque)/.test(l))
    .slice(0, depth)
    .map((l) => l.replace(/\((?:file:\/\/)?[^()]*?\/((?:src|bench|test|node_modules\/bullmq\/dist\/(?:esm|cjs))\/[^)]*)\)/, '($1)'));
  const queue = /bull:([^:\r]+):/.exec(text)?.[1];
  return `${commands.slice(0, 3).join('+') || '?'}${queue ? `[${queue}]` : ''} <- ${frames.join(' <- ')}`;
}

function printSites(sites: Map<string, number>, total: number): void {
  console.log(`redis writes by call site (${total}):`);
  for (const [site, k] of [...sites].sort((a, b) => b[1] - a[1])) console.log(`  ${String(k).padStart(4)}  ${site}`);
}
