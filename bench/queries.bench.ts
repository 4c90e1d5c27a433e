/**
 * Time of the `most-expensive` query over 10,000 packages (goal: at most 50 ms), next to a
 * baseline measured in the same run on the same data: a plain HGETALL of the package summary
 * hash the query reads. Seeds a throwaway redis-server; prints figures, asserts nothing.
 *
 *   node --import tsx bench/queries.bench.ts [packages]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startRedisServer } from '../src/engine/redis-server.ts';
import { loadConfig } from '../src/config.ts';
import { openEngine } from '../src/workflow/bootstrap.ts';
import { QueryCatalog, rankStacks } from '../src/workflow/queries.ts';

const PACKAGES = Number(process.argv[2] ?? 10_000);
const PROJECTS = 40;
const ENVS = ['dev', 'staging', 'production'];
const RUNS = 30;
const GOAL_MS = 50;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function time(runs: number, fn: () => Promise<unknown>): Promise<{ median: number; p95: number }> {
  await fn(); // warm up (script load, JIT)
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  const sorted = [...out].sort((a, b) => a - b);
  return { median: median(out), p95: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))]! };
}

const dir = mkdtempSync(join(tmpdir(), 'ts-bench-queries-'));
const server = await startRedisServer({ dataDir: dir });
const opened = await openEngine(loadConfig({ REDIS_URL: server.url, REDIS_PREFIX: 'bench:', LOG_LEVEL: 'silent' }));
try {
  const { engine } = opened;
  const ctx = { actor: 'bench', surface: 'cli' as const };
  const seedStart = performance.now();
  for (let p = 0; p < PROJECTS; p++) {
    await engine.createProject({ id: `project-${p}` }, ctx);
    for (const e of ENVS) await engine.createEnvironment({ project: `project-${p}`, name: e }, ctx);
  }
  const bundles = ['postgres-database', 'redis-cache', 'checkout-api'];
  const BATCH = 200;
  for (let i = 0; i < PACKAGES; i += BATCH) {
    const batch: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(PACKAGES, i + BATCH); j++) {
      const env = `project-${j % PROJECTS}-${ENVS[Math.floor(j / PROJECTS) % ENVS.length]}`;
      const cost = Math.round(((j * 7919) % 100_000) / 10) / 10; // deterministic spread, $0 to $1,000
      batch.push(engine.inventory.createPackage({ environment: env, name: `pkg-${j}`, bundle: bundles[j % 3]!, version: '1.0.0', costMonthly: cost }, ctx));
    }
    await Promise.all(batch);
  }
  const seeded = performance.now() - seedStart;
  const redis = opened.redis.redis;
  const summaryKey = 'bench:package:summary';
  const catalog = new QueryCatalog(engine);

  const baseline = await time(RUNS, () => redis.hgetall(summaryKey));
  const summaries = await time(RUNS, () => engine.inventory.packageSummaries());
  const all = await engine.inventory.packageSummaries();
  const ranking = await time(RUNS, async () => rankStacks(all));
  const query = await time(RUNS, () => catalog.ask({ name: 'most-expensive', args: { top: 5 } }, ctx));

  const f = (x: number) => `${x.toFixed(2).padStart(8)} ms`;
  console.log(`most-expensive over ${all.length} packages in ${PROJECTS * ENVS.length} stacks (seeded in ${(seeded / 1000).toFixed(1)} s); ${RUNS} runs each`);
  console.log(`                                         median        p95`);
  console.log(`  baseline: HGETALL package:summary   ${f(baseline.median)} ${f(baseline.p95)}`);
  console.log(`  packageSummaries() (HVALS + parse)  ${f(summaries.median)} ${f(summaries.p95)}`);
  console.log(`  rankStacks() alone (in memory)      ${f(ranking.median)} ${f(ranking.p95)}`);
  console.log(`  query most-expensive (with audit)   ${f(query.median)} ${f(query.p95)}   goal <= ${GOAL_MS} ms: ${query.median <= GOAL_MS ? 'met' : 'NOT met'}`);
  console.log(`  query / baseline                    ${(query.median / baseline.median).toFixed(2)}x`);
} finally {
  await opened.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
