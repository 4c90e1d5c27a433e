import { test } from 'node:test';
import assert from 'node:assert/strict';
import { INTAKE_BACKOFF_TYPE, INTAKE_RETRY, intakeAttempts, intakeBackoffStrategy, intakeRetryDelay } from '../../src/queue/intake-retry.ts';
import { intakeJobOptions } from '../../src/queue/queues.ts';

/** The waits BullMQ makes between `attempts` attempts (one fewer than the attempts). */
function waits(attempts: number): number[] {
  return Array.from({ length: attempts - 1 }, (_, i) => intakeBackoffStrategy(i + 1));
}

test('intake waits double from half a second and never exceed five minutes', () => {
  assert.deepEqual(waits(6), [500, 1000, 2000, 4000, 8000]);
  const all = waits(intakeAttempts());
  assert.equal(Math.max(...all), 5 * 60_000);
  for (let i = 1; i < all.length; i++) assert.ok(all[i]! >= all[i - 1]!, 'waits never shrink');
  assert.equal(intakeRetryDelay(10_000), 5 * 60_000, 'a huge attempt count stays at the cap');
});

test('intake retries outlast a day of surface outage, and not by much', () => {
  const attempts = intakeAttempts();
  const total = waits(attempts).reduce((a, b) => a + b, 0);
  assert.ok(total > 24 * 3600_000, `waits add up to ${total} ms`);
  // One attempt fewer would not cover the day: the count is the least that does.
  const shorter = waits(attempts - 1).reduce((a, b) => a + b, 0);
  assert.ok(shorter <= INTAKE_RETRY.coverMs);
});

test('intake jobs use the schedule and stay long enough to be the dedupe key', () => {
  const opts = intakeJobOptions();
  assert.equal(opts.attempts, intakeAttempts());
  assert.deepEqual(opts.backoff, { type: INTAKE_BACKOFF_TYPE });
  assert.deepEqual(opts.removeOnComplete, { age: 7 * 24 * 3600 }, 'no count limit that would cut the dedupe window short');
});
