import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config.ts';
import type { Logger } from '../engine/logger.ts';
import type { Clock } from '../engine/model.ts';
import type { WindowSource } from '../policy/index.ts';
import { startRedisServer, type EmbeddedRedis } from '../engine/redis-server.ts';
import { startPostgresServer, type EmbeddedPostgres } from '../dev/postgres-server.ts';
import { startRuntime, type Runtime, type RuntimeOptions } from '../runtime.ts';
import { startJiraSandbox, exampleSeed, type JiraSandbox, type SandboxSeed } from '../../sandbox/jira/index.ts';

/** Everything the Jira story runs on: private Redis and PostgreSQL, the Jira sandbox, the service. */
export interface StoryWorld {
  redis: EmbeddedRedis;
  pg: EmbeddedPostgres;
  sandbox: JiraSandbox;
  runtime: Runtime;
  webhookSecret: string;
  close(): Promise<void>;
}

/** Options of {@link startStoryWorld}. */
export interface StoryWorldOptions {
  logger: Logger;
  clock?: Clock;
  /** Quick webhook retries for tests. */
  webhookRetryDelaysMs?: number[];
  /** Extra change-window sources (blackouts a test adds while requests wait). */
  windowSources?: WindowSource[];
  /** How often the workers re-sync dynamic dropdowns (ms); a test that re-syncs by hand sets it high. */
  dynamicOptionsPollMs?: number;
  /** Extra bundle directories besides examples/bundles (BUNDLE_PATH), e.g. a benchmark's fixtures. */
  bundlePaths?: string[];
  /** Policy file instead of examples/policy.yaml (POLICY_FILE). */
  policyFile?: string;
  /** Form overlays directory instead of forms/ (FORMS_DIR); bundles without an overlay there get the default form. */
  formsDir?: string;
  /** Worker concurrency per queue (default: the workers' own). */
  concurrency?: RuntimeOptions['concurrency'];
  /** Jira mapping instead of examples/jira-config.yaml (JIRA_CONFIG_FILE). */
  jiraConfigFile?: string;
  /** Sandbox site instead of the example one (a story needing an issue type more). */
  jiraSeed?: SandboxSeed;
}

/**
 * Boots the developer-requests-a-database story: a private redis-server and PostgreSQL
 * cluster, the contract-checked Jira sandbox seeded with the example site, and the service
 * with its workers, with the webhook registered. Used by `npm run demo` and the end-to-end test.
 */
export async function startStoryWorld(opts: StoryWorldOptions): Promise<StoryWorld> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ticket-surface-'));
  const redis = await startRedisServer({ dataDir: join(dataDir, 'redis') });
  const pg = await startPostgresServer();
  const pgEnv = pg.superuserEnv();
  // Ops tell the example bundles where their servers are through TS_TARGET_* variables.
  process.env.TS_TARGET_REDIS_URL = redis.url;
  process.env.TS_TARGET_PGHOST = pgEnv.PGHOST!;
  process.env.TS_TARGET_PGPORT = pgEnv.PGPORT!;
  process.env.TS_TARGET_PGUSER = pgEnv.PGUSER!;
  const webhookSecret = 'demo-webhook-secret-0123456789';
  const sandbox = await startJiraSandbox({
    contract: true,
    seed: opts.jiraSeed ?? exampleSeed(),
    webhookSecret,
    ...(opts.webhookRetryDelaysMs ? { webhookRetryDelaysMs: opts.webhookRetryDelaysMs } : {}),
  });
  const config = loadConfig({
    REDIS_URL: redis.url,
    DATA_DIR: join(dataDir, 'service'),
    PORT: '0',
    LOG_LEVEL: 'silent',
    JIRA_BASE_URL: sandbox.url,
    JIRA_EMAIL: sandbox.credentials.email,
    JIRA_API_TOKEN: sandbox.credentials.apiToken,
    JIRA_WEBHOOK_SECRET: webhookSecret,
    JIRA_CONFIG_FILE: opts.jiraConfigFile ?? 'examples/jira-config.yaml',
    ...(opts.bundlePaths?.length ? { BUNDLE_PATH: opts.bundlePaths.join(':') } : {}),
    ...(opts.policyFile ? { POLICY_FILE: opts.policyFile } : {}),
    ...(opts.formsDir ? { FORMS_DIR: opts.formsDir } : {}),
  });
  const runtime = await startRuntime({
    config,
    logger: opts.logger,
    http: true,
    workers: true,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.windowSources ? { windowSources: opts.windowSources } : {}),
    ...(opts.dynamicOptionsPollMs ? { dynamicOptionsPollMs: opts.dynamicOptionsPollMs } : {}),
    ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
  });
  sandbox.registerWebhook({ url: `${runtime.url}/webhooks/jira`, secret: webhookSecret, events: ['jira:issue_created', 'jira:issue_updated', 'comment_created'] });
  return {
    redis,
    pg,
    sandbox,
    runtime,
    webhookSecret,
    close: async () => {
      await runtime.close();
      await sandbox.stop();
      await pg.stop();
      await redis.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A clock that starts at `start` and runs at real speed (windows are checked against it). */
export function shiftedClock(start: Date): Clock {
  const offset = start.getTime() - Date.now();
  return { now: () => new Date(Date.now() + offset) };
}
