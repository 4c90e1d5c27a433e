/**
 * The Jira story world most end-to-end stories start from: the checkout project with a staging
 * environment (its window open at the story's Tuesday 10:00 in Berlin), postgres-database 1.4.0
 * qa-signed, and the forms synced; plus the two reads those stories make.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createLogger } from '../../src/engine/logger.ts';
import type { Clock, Request } from '../../src/engine/model.ts';
import { startStoryWorld, shiftedClock, type StoryWorld } from '../../src/demo/story.ts';
import { syncStoryForms } from '../../src/demo/story-steps.ts';

const run = promisify(execFile);

/** Who sets the stage (audited as a CLI admin). */
export const STAGE_CTX = { actor: 'platform-admin', surface: 'cli' as const };

/** Starts the world (on `clock`, by default the story's Tuesday) and sets the stage described above. */
export async function startStagingStory(clock: Clock = shiftedClock(new Date('2026-11-24T09:00:00Z'))): Promise<StoryWorld> {
  const world = await startStoryWorld({ logger: createLogger('silent'), clock, webhookRetryDelaysMs: [50, 100] });
  const { engine } = world.runtime.opened;
  await engine.createProject({ id: 'checkout', name: 'Checkout' }, STAGE_CTX);
  await engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, STAGE_CTX);
  await engine.attest('postgres-database', '1.4.0', 'qa-signed', 'quinn', STAGE_CTX);
  await syncStoryForms(world);
  return world;
}

/** The newest request filed from Jira issue `key`. */
export async function latestJiraRequest(world: StoryWorld, key: string): Promise<Request> {
  const all = await world.runtime.opened.engine.requests.forOrigin('jira', key);
  return all.sort((a, b) => a.createdAt.localeCompare(b.createdAt)).pop()!;
}

/** One SQL statement on the story's PostgreSQL as its superuser; its trimmed output. */
export async function storyPsql(world: StoryWorld, sql: string): Promise<string> {
  const env = { ...process.env, ...world.pg.superuserEnv() };
  const { stdout } = await run('psql', ['-X', '-A', '-t', '-c', sql], { env });
  return stdout.trim();
}
