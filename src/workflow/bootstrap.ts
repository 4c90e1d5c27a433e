import { join, resolve } from 'node:path';
import type { Config } from '../config.ts';
import { REPO_ROOT } from '../engine/config-file.ts';
import { BundleRegistry } from '../engine/registry/index.ts';
import { Inventory } from '../engine/inventory.ts';
import { AttestationStore } from '../engine/attestations.ts';
import { RequestService } from '../engine/requests.ts';
import { Engine } from './engine.ts';
import { secretStorage } from './secrets.ts';
import { openRedis, redisSettings, type RedisHandle } from '../engine/redis-connection.ts';
import { estimateMonthlyCost, parseCostModel } from '../engine/cost.ts';
import type { FieldIssue } from '../engine/errors.ts';
import type { Clock } from '../engine/model.ts';
import { FreezeStore } from './freeze.ts';
import { StackStore } from './stack-store.ts';

export { REPO_ROOT };

/** An opened engine plus what it holds open. */
export interface OpenedEngine {
  engine: Engine;
  redis: RedisHandle;
  /** Problems found while loading bundles (bundles with problems are left out). */
  bundleIssues: FieldIssue[];
  close(): Promise<void>;
}

/** Bundle directories: the project's examples plus BUNDLE_PATH. */
export function bundlePaths(config: Config): string[] {
  return [join(REPO_ROOT, 'examples', 'bundles'), ...config.BUNDLE_PATH.map((p) => resolve(p))];
}

/** Builds the registry from configuration (no Redis needed). */
export async function openRegistry(config: Config): Promise<{ registry: BundleRegistry; issues: FieldIssue[] }> {
  const registry = new BundleRegistry({
    bundlePaths: bundlePaths(config),
    artifactDefinitionPaths: config.ARTIFACT_DEFINITIONS_PATH.map((p) => resolve(p)),
    ...(config.SCHEMA_MIRROR ? { schemaMirror: resolve(config.SCHEMA_MIRROR) } : {}),
    allowNetwork: config.SCHEMA_ALLOW_NETWORK,
  });
  const issues = await registry.loadAll();
  return { registry, issues };
}

/** Opens Redis (private server when REDIS_URL is unset), the registry and the engine. */
export async function openEngine(config: Config, opts: { clock?: Clock } = {}): Promise<OpenedEngine> {
  const { registry, issues } = await openRegistry(config);
  const redis = await openRedis({ ...redisSettings(config), dataDir: config.DATA_DIR });
  const inventory = new Inventory({ redis: redis.redis, prefix: config.REDIS_PREFIX, ...(await secretStorage(config, registry)), ...(opts.clock ? { clock: opts.clock } : {}) });
  const attestations = new AttestationStore({
    redis: redis.redis,
    prefix: config.REDIS_PREFIX,
    audit: inventory.audit,
    clock: inventory.clock,
    exists: (bundle, version) => registry.versions(bundle).includes(version),
  });
  const requests = new RequestService({ inventory });
  const freezes = new FreezeStore({ redis: redis.redis, prefix: config.REDIS_PREFIX, audit: inventory.audit, clock: inventory.clock });
  const engine = new Engine({
    registry,
    inventory,
    attestations,
    requests,
    freezes,
    stacks: new StackStore({ redis: redis.redis, prefix: config.REDIS_PREFIX, audit: inventory.audit }),
    estimateCost: (bundle, params) => (parseCostModel(bundle) ? estimateMonthlyCost(bundle, params) : undefined),
  });
  return { engine, redis, bundleIssues: issues, close: () => redis.close() };
}
