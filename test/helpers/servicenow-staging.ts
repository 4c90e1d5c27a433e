/**
 * The ServiceNow story world the cache stories start from: the checkout project with a staging
 * environment (its window open at the story's Tuesday 10:00 in Berlin), redis-cache 1.2.0
 * qa-signed, the catalog synced, and a Redis connection of the test's own to look at the real
 * effects; plus the read those stories make. The twin of jira-staging.ts.
 */
import { Redis } from 'ioredis';
import { createLogger } from '../../src/engine/logger.ts';
import type { Request } from '../../src/engine/model.ts';
import { shiftedClock } from '../../src/demo/story.ts';
import { startServiceNowWorld, type ServiceNowWorld } from '../../src/demo/servicenow-world.ts';
import { syncServiceNowForms } from '../../src/demo/servicenow-steps.ts';

/** Who sets the stage (audited as a CLI admin). */
export const SN_STAGE_CTX = { actor: 'platform-admin', surface: 'cli' as const };

/** The world, and a Redis connection to read the real effects with. */
export interface ServiceNowStaging {
  world: ServiceNowWorld;
  admin: Redis;
  close(): Promise<void>;
}

/** Starts the world and sets the stage described above. */
export async function startServiceNowStaging(): Promise<ServiceNowStaging> {
  const world = await startServiceNowWorld({ logger: createLogger('silent'), clock: shiftedClock(new Date('2026-11-24T09:00:00Z')), webhookRetryDelaysMs: [50, 100] });
  const { engine } = world.runtime.opened;
  await engine.createProject({ id: 'checkout', name: 'Checkout' }, SN_STAGE_CTX);
  await engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, SN_STAGE_CTX);
  await engine.attest('redis-cache', '1.2.0', 'qa-signed', 'quinn', SN_STAGE_CTX);
  await syncServiceNowForms(world);
  const admin = new Redis(world.redis.url, { lazyConnect: true });
  await admin.connect();
  return {
    world,
    admin,
    close: async () => {
      admin.disconnect();
      await world.close();
    },
  };
}

/** The newest request filed from requested item `ritm`. */
export async function latestServiceNowRequest(world: ServiceNowWorld, ritm: string): Promise<Request> {
  const all = await world.runtime.opened.engine.requests.forOrigin('servicenow', ritm);
  return all.sort((a, b) => a.createdAt.localeCompare(b.createdAt)).pop()!;
}
