import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config.ts';
import type { Logger } from '../engine/logger.ts';
import type { Clock } from '../engine/model.ts';
import type { WindowSource } from '../policy/index.ts';
import { startRedisServer, type EmbeddedRedis } from '../engine/redis-server.ts';
import { startPostgresServer, type EmbeddedPostgres } from '../dev/postgres-server.ts';
import { startRuntime, type Runtime } from '../runtime.ts';
import { startServiceNowSandbox, type ServiceNowSandbox } from '../../sandbox/servicenow/servicenow-sandbox.ts';
import { exampleSeed } from '../../sandbox/servicenow/example-seed.ts';

/** Everything the ServiceNow story runs on: private Redis and PostgreSQL, the ServiceNow sandbox, the service. */
export interface ServiceNowWorld {
  redis: EmbeddedRedis;
  pg: EmbeddedPostgres;
  sandbox: ServiceNowSandbox;
  runtime: Runtime;
  webhookSecret: string;
  close(): Promise<void>;
}

/** Options of {@link startServiceNowWorld}. */
export interface ServiceNowWorldOptions {
  logger: Logger;
  clock?: Clock;
  /** Quick webhook retries for tests. */
  webhookRetryDelaysMs?: number[];
  /** Extra change-window sources besides the instance's blackout schedules. */
  windowSources?: WindowSource[];
  /** How often the workers re-sync dynamic choices (ms). */
  dynamicOptionsPollMs?: number;
  /** SERVICENOW_CONFIG_FILE (default examples/servicenow-config.yaml). */
  configFile?: string;
}

/**
 * Boots the developer-requests-a-database story on ServiceNow: a private redis-server and
 * PostgreSQL cluster, the contract-checked ServiceNow sandbox seeded with the example people,
 * groups and blackout schedule (its hand-made catalog item left out: the forms sync makes the
 * items), and the service with its workers, the Business Rule's webhook pointed at it. The
 * twin of `startStoryWorld` (Jira); used by `npm run demo -- --surface servicenow` and the tests.
 */
export async function startServiceNowWorld(opts: ServiceNowWorldOptions): Promise<ServiceNowWorld> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ticket-surface-sn-'));
  const redis = await startRedisServer({ dataDir: join(dataDir, 'redis') });
  const pg = await startPostgresServer();
  const pgEnv = pg.superuserEnv();
  // Ops tell the example bundles where their servers are through TS_TARGET_* variables.
  process.env.TS_TARGET_REDIS_URL = redis.url;
  process.env.TS_TARGET_PGHOST = pgEnv.PGHOST!;
  process.env.TS_TARGET_PGPORT = pgEnv.PGPORT!;
  process.env.TS_TARGET_PGUSER = pgEnv.PGUSER!;
  const webhookSecret = 'demo-servicenow-secret-0123456789';
  const { catalogItems: _handMade, ...seed } = exampleSeed();
  const sandbox = await startServiceNowSandbox({
    contract: true,
    seed,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.webhookRetryDelaysMs ? { webhookRetryDelaysMs: opts.webhookRetryDelaysMs } : {}),
  });
  let runtime: Runtime;
  try {
    const config = loadConfig({
      REDIS_URL: redis.url,
      DATA_DIR: join(dataDir, 'service'),
      PORT: '0',
      LOG_LEVEL: 'silent',
      SERVICENOW_INSTANCE_URL: sandbox.url,
      SERVICENOW_USER: sandbox.credentials.username,
      SERVICENOW_PASSWORD: sandbox.credentials.password,
      SERVICENOW_WEBHOOK_SECRET: webhookSecret,
      SERVICENOW_CONFIG_FILE: opts.configFile ?? 'examples/servicenow-config.yaml',
    });
    runtime = await startRuntime({
      config,
      logger: opts.logger,
      http: true,
      workers: true,
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.windowSources ? { windowSources: opts.windowSources } : {}),
      ...(opts.dynamicOptionsPollMs ? { dynamicOptionsPollMs: opts.dynamicOptionsPollMs } : {}),
    });
  } catch (err) {
    await sandbox.stop();
    await pg.stop();
    await redis.stop();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  // The Business Rule's system properties: where to post and the shared secret.
  sandbox.setWebhook({ url: `${runtime.url}/webhooks/servicenow`, secret: webhookSecret });
  return {
    redis,
    pg,
    sandbox,
    runtime,
    webhookSecret,
    close: async () => {
      sandbox.setWebhook(undefined);
      await sandbox.webhooksIdle();
      await runtime.close();
      await sandbox.stop();
      await pg.stop();
      await redis.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
