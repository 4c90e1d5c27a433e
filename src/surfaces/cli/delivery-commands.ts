/**
 * `deliveries failed|replay`: webhook deliveries intake gave up on; `notices failed|replay`: ticket
 * writes the outbox gave up on. Both read the service's Redis directly, like the service's own metrics.
 */
import { openRedis, redisSettings } from '../../engine/redis-connection.ts';
import { DeadLetters } from '../../queue/dead-letters.ts';
import { NoticeDeadLetters, type FailedNotice } from '../../queue/notice-dead-letters.ts';
import { queueNamesForPrefix } from '../../queue/queues.ts';
import type { CommandContext } from './command.ts';
import { print } from './io.ts';

/** Runs `work` with the service's dead letters (same Redis, prefix and queue names as the service). */
async function withDeadLetters<T>(ctx: CommandContext, work: (letters: DeadLetters) => Promise<T>): Promise<T> {
  const handle = await openRedis({ ...redisSettings(ctx.config), dataDir: ctx.config.DATA_DIR });
  const letters = new DeadLetters({ redis: handle.redis, names: queueNamesForPrefix(ctx.config.REDIS_PREFIX), keyPrefix: ctx.config.REDIS_PREFIX });
  try {
    return await work(letters);
  } finally {
    await letters.close();
    await handle.close();
  }
}

/** `deliveries failed [--json]`: every delivery intake gave up on, with its last error (never its body). */
export function deliveriesFailed(ctx: CommandContext): Promise<number> {
  return withDeadLetters(ctx, async (letters) => {
    const failed = await letters.list();
    print(ctx.io, ctx.json, failed, () =>
      failed.length === 0
        ? 'no failed deliveries'
        : failed
            .map((f) => `${f.id}  ${f.attempts} attempt${f.attempts === 1 ? '' : 's'}${f.replays ? `, ${f.replays} replay${f.replays === 1 ? '' : 's'}` : ''}  first received ${f.firstReceivedAt}  failed ${f.failedAt}\n  ${f.lastError.class}${f.lastError.code ? ` (${f.lastError.code})` : ''}: ${f.lastError.message}`)
            .join('\n'),
    );
    return 0;
  });
}

/** `deliveries replay <id>`: queues a failed delivery again (a NotFoundError, exit 1, for an unknown id). */
export function deliveriesReplay(ctx: CommandContext): Promise<number> {
  const id = ctx.args[0];
  if (!id) {
    ctx.io.err('usage: ticket-surface deliveries replay <surface:delivery-id>');
    return Promise.resolve(2);
  }
  return withDeadLetters(ctx, async (letters) => {
    const replayed = await letters.replay(id);
    print(ctx.io, ctx.json, replayed, () => `queued ${replayed.id} again (replay ${replayed.replay}, job ${replayed.jobId})`);
    return 0;
  });
}

/** Runs `work` with the outbox's dead letters (same Redis, prefix and queue names as the service). */
async function withDeadNotices<T>(ctx: CommandContext, work: (letters: NoticeDeadLetters) => Promise<T>): Promise<T> {
  const handle = await openRedis({ ...redisSettings(ctx.config), dataDir: ctx.config.DATA_DIR });
  const letters = new NoticeDeadLetters({ redis: handle.redis, names: queueNamesForPrefix(ctx.config.REDIS_PREFIX), keyPrefix: ctx.config.REDIS_PREFIX });
  try {
    return await work(letters);
  } finally {
    await letters.close();
    await handle.close();
  }
}

/** One listed dead notice: its key, request, message, attempts and last error (never its free text). */
function noticeLine(f: FailedNotice): string {
  const replays = f.replays ? `, ${f.replays} replay${f.replays === 1 ? '' : 's'}` : '';
  return `${f.id}  ${f.message} for ${f.requestId}  ${f.attempts} attempt${f.attempts === 1 ? '' : 's'}${replays}  failed ${f.failedAt}\n  ${f.lastError.class}${f.lastError.code ? ` (${f.lastError.code})` : ''}: ${f.lastError.message}`;
}

/** `notices failed [--json]`: every ticket write the outbox gave up on, with its last error. */
export function noticesFailed(ctx: CommandContext): Promise<number> {
  return withDeadNotices(ctx, async (letters) => {
    const failed = await letters.list();
    print(ctx.io, ctx.json, failed, () => (failed.length === 0 ? 'no failed ticket writes' : failed.map(noticeLine).join('\n')));
    return 0;
  });
}

/** `notices replay <key>`: queues a failed ticket write again (a NotFoundError, exit 1, for an unknown key). */
export function noticesReplay(ctx: CommandContext): Promise<number> {
  const id = ctx.args[0];
  if (!id) {
    ctx.io.err('usage: ticket-surface notices replay <notice-key>');
    return Promise.resolve(2);
  }
  return withDeadNotices(ctx, async (letters) => {
    const replayed = await letters.replay(id);
    print(ctx.io, ctx.json, replayed, () => `queued ${replayed.id} again (replay ${replayed.replay}, job ${replayed.jobId})`);
    return 0;
  });
}
