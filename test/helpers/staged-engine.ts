/**
 * An engine opened on a test's Redis and its own data folder, with the checkout project and a
 * staging environment: the stage the doctor and forms-screen tests sync forms against. Registers
 * its own `before` and `after` hooks.
 */
import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.ts';
import { openEngine, type OpenedEngine } from '../../src/workflow/bootstrap.ts';
import type { useRedis } from './redis.ts';

/** What {@link useStagedEngine} opened; read inside tests (set by its `before` hook). */
export interface StagedEngine {
  readonly opened: OpenedEngine;
  readonly dataDir: string;
}

/** Opens the engine before the file's tests (data folder named after `label`) and closes it after. */
export function useStagedEngine(redis: ReturnType<typeof useRedis>, label: string): StagedEngine {
  const state: { opened?: OpenedEngine; dataDir?: string } = {};
  const ctx = { actor: 'platform-admin', surface: 'cli' as const };
  before(async () => {
    await redis.ready();
    state.dataDir = mkdtempSync(join(tmpdir(), `${label}-`));
    state.opened = await openEngine(loadConfig({ REDIS_URL: redis.url, DATA_DIR: state.dataDir, LOG_LEVEL: 'silent' }));
    await state.opened.engine.createProject({ id: 'checkout', name: 'Checkout' }, ctx);
    await state.opened.engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ctx);
  });
  after(async () => {
    await state.opened?.close();
    if (state.dataDir) rmSync(state.dataDir, { recursive: true, force: true });
  });
  return {
    get opened() {
      return state.opened!;
    },
    get dataDir() {
      return state.dataDir!;
    },
  };
}
