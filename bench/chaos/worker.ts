/**
 * A chaos-harness worker process: `src/worker-main.ts` plus the fault hook of the workflow
 * (src/workflow/faults.ts) driven by the environment, and short recovery intervals so a request
 * left behind by a killed worker is resumed within seconds, not minutes.
 *
 * - `CHAOS_EXIT_AT`: comma-separated named points (`mid-evaluate`, `after-plan`,
 *   `between-state-and-notice`, `before-apply`, `after-apply-before-record`, `relay-after-add`);
 * - `CHAOS_EXIT_CHANCE`: the chance (0..1) that reaching one of them kills this process (and its
 *   step processes) with SIGKILL there and then, as a crash at that instruction would.
 */
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { runEntry } from '../../src/entry.ts';
import { startRuntime } from '../../src/runtime.ts';
import type { FaultPoint, Faults } from '../../src/workflow/faults.ts';

const points = new Set((process.env.CHAOS_EXIT_AT ?? '').split(',').map((p) => p.trim()).filter(Boolean) as FaultPoint[]);
const chance = Number(process.env.CHAOS_EXIT_CHANCE ?? 0);

const faults: Faults = {
  at(point) {
    if (points.has(point) && Math.random() < chance) {
      process.stdout.write(`chaos-exit ${point}\n`);
      // The harness starts each worker as a process group: the crash takes its step processes too.
      try {
        process.kill(-process.pid, 'SIGKILL');
      } catch {
        process.kill(process.pid, 'SIGKILL');
      }
    }
  },
};

await runEntry(async () => {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  const runtime = await startRuntime({ config, logger, http: false, workers: true, faults, staleSweepMs: 2000, stuckAfterMs: 8000 });
  process.stdout.write('worker ready\n');
  return { stop: async () => runtime.close() };
});
