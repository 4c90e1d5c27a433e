import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Queue } from 'bullmq';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { main, type CliIo } from '../../src/cli.ts';
import { DeadLetters } from '../../src/queue/dead-letters.ts';
import { queueNamesForPrefix, type IntakeJobData } from '../../src/queue/queues.ts';
import { RemoteUnavailableError } from '../../src/surfaces/shared/remote-errors.ts';

const redis = useRedis();
let env: NodeJS.ProcessEnv;
let letters: DeadLetters;
before(async () => {
  await redis.ready();
  env = { REDIS_URL: redis.url, REDIS_PREFIX: `${uniqueName('dl')}:`, LOG_LEVEL: 'silent' };
  letters = new DeadLetters({ redis: redis.client(), names: queueNamesForPrefix(env.REDIS_PREFIX!), keyPrefix: env.REDIS_PREFIX });
});
after(async () => letters.close());

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += `${t}\n`), err: (t) => void (err += `${t}\n`), env, cwd: process.cwd() };
  return { code: await main(args, io), out, err };
}

test('deliveries failed lists what intake gave up on, without the body; replay queues it again for the service', async () => {
  assert.match((await cli(['deliveries', 'failed'])).out, /^no failed deliveries$/m);
  const delivery: IntakeJobData = { surface: 'jira', deliveryId: 'd-42', headers: {}, body: '{"secret-ish":"body text"}', receivedAt: '2026-12-05T01:00:00.000Z' };
  await letters.record(delivery, new RemoteUnavailableError('Jira', 'GET /rest/api/3/issue/INFRA-1', 503, 'Service Unavailable'), 30);
  const listed = await cli(['deliveries', 'failed']);
  assert.equal(listed.code, 0, listed.err);
  assert.match(listed.out, /^jira:d-42 {2}30 attempts {2}first received 2026-12-05T01:00:00.000Z/m);
  assert.doesNotMatch(listed.out, /body text/);

  const replayed = await cli(['deliveries', 'replay', 'jira:d-42']);
  assert.equal(replayed.code, 0, replayed.err);
  assert.match(replayed.out, /^queued jira:d-42 again \(replay 1, job (\S+)\)$/m);
  const jobId = /job (\S+)\)/.exec(replayed.out)![1]!;
  const intake = new Queue<IntakeJobData>(queueNamesForPrefix(env.REDIS_PREFIX!).intake, { connection: redis.client() });
  try {
    const job = await intake.getJob(jobId);
    assert.equal(job?.data.deliveryId, 'd-42');
    assert.equal(job?.data.body, delivery.body, 'the delivery itself is queued again, as received');
  } finally {
    await intake.close();
  }
  assert.match((await cli(['deliveries', 'failed'])).out, /^no failed deliveries$/m);
  const unknown = await cli(['deliveries', 'replay', 'jira:nope']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /not found|no failed delivery|unknown/i);
});
