/**
 * Forms: (1) time to build and render a generated 1,000-field form for Jira and ServiceNow,
 * against a baseline measured in the same run (JSON.stringify plus a plain recursive walk of the
 * same params schema, i.e. a JSON round trip and a visit of every node: the least any renderer must do); (2) write calls made by a first and a
 * second `forms sync --surface jira` of the example catalog against the Jira sandbox.
 *
 * Render timings: one cold run (first call, nothing JIT-compiled), then the median and p99 of
 * warm runs repeated for about BENCH_SECONDS (default 5, at most 200 runs).
 */
import { performance } from 'node:perf_hooks';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JsonSchema } from '../src/engine/model.ts';
import { buildForm, generateLargeBundle } from '../src/forms/index.ts';
import { renderJiraForm } from '../src/surfaces/jira/form-renderer.ts';
import { renderServiceNowForm } from '../src/surfaces/servicenow/form-renderer.ts';
import { benchSeconds, fmt, printTable, summary, verdict, watchdog } from './lib/report.ts';

const FIELDS = 1000;

/** Visits every node of a schema and counts the leaves: the floor under any form builder. */
function plainWalk(schema: JsonSchema): number {
  let leaves = 0;
  const walk = (s: unknown): void => {
    if (!s || typeof s !== 'object') return;
    const o = s as Record<string, unknown>;
    const props = o.properties as Record<string, unknown> | undefined;
    if (props && typeof props === 'object') for (const k of Object.keys(props)) walk(props[k]);
    else leaves++;
    if (o.items) walk(o.items);
    for (const k of ['oneOf', 'anyOf', 'allOf'] as const) if (Array.isArray(o[k])) for (const x of o[k] as unknown[]) walk(x);
  };
  walk(schema);
  return leaves;
}

/** Times `fn` once cold, then repeatedly until `budgetMs` or `maxRuns`. */
function time(fn: () => unknown, budgetMs: number, maxRuns = 200): { cold: number; warm: number[] } {
  let t = performance.now();
  fn();
  const cold = performance.now() - t;
  const warm: number[] = [];
  const end = performance.now() + budgetMs;
  while (warm.length < maxRuns && performance.now() < end) {
    t = performance.now();
    fn();
    warm.push(performance.now() - t);
  }
  return { cold, warm };
}

async function renderBench(seconds: number): Promise<void> {
  const bundle = generateLargeBundle(FIELDS);
  const budget = (seconds * 1000) / 5;
  let leaves = 0;
  const baseline = time(() => {
    leaves = plainWalk(JSON.parse(JSON.stringify(bundle.params)) as JsonSchema);
  }, budget);
  // First, so its cold figure is the first build and render this process ever does.
  const all = time(() => {
    const f = buildForm(generateLargeBundle(FIELDS));
    renderJiraForm(f);
    renderServiceNowForm(f);
  }, budget);
  const build = time(() => buildForm(bundle), budget);
  const form = buildForm(bundle);
  const jira = time(() => renderJiraForm(form), budget);
  const sn = time(() => renderServiceNowForm(form), budget);
  const jiraFields = renderJiraForm(form).fields.length;
  const snVars = renderServiceNowForm(form).variables.length;

  console.log(`forms: ${FIELDS}-field generated bundle (${form.fields.length} form fields, ${jiraFields} Jira fields, ${snVars} ServiceNow variables incl. containers; the plain walk visits ${leaves} nodes without properties)`);
  const rows: string[][] = [['step', 'cold (ms)', 'warm p50 (ms)', 'warm p99 (ms)', 'runs', 'goal', '']];
  const row = (name: string, r: { cold: number; warm: number[] }, goal = '', ok?: boolean) => {
    const s = summary(r.warm);
    rows.push([name, fmt(r.cold, 2), fmt(s.p50, 2), fmt(s.p99, 2), String(s.n), goal, ok === undefined ? '' : verdict(ok)]);
  };
  row('baseline: JSON round trip + plain walk', baseline);
  row('buildForm', build);
  row('renderJiraForm', jira);
  row('renderServiceNowForm', sn);
  const total = summary(all.warm);
  row('generate + build + both renders', all, '<= 50 ms (warm p50)', total.p50 <= 50);
  printTable(rows);
  console.log(`build + both renders = ${fmt(total.p50 / summary(baseline.warm).p50, 1)} x the baseline (warm p50); cold ${fmt(all.cold, 1)} ms ${all.cold <= 50 ? 'also within' : 'over'} 50 ms`);
}

async function syncBench(): Promise<void> {
  const { loadConfig } = await import('../src/config.ts');
  const { startRuntime } = await import('../src/runtime.ts');
  const { loadJiraConfig } = await import('../src/surfaces/jira/config.ts');
  const { createLogger } = await import('../src/engine/logger.ts');
  const { startRedisServer } = await import('../src/engine/redis-server.ts');
  const { JiraClient } = await import('../src/surfaces/jira/client.ts');
  const { JiraFormsSync } = await import('../src/surfaces/jira/forms-sync.ts');
  const { EngineOptionSources } = await import('../src/workflow/form-options.ts');
  const { startJiraSandbox, exampleSeed } = await import('../sandbox/jira/index.ts');

  const dataDir = mkdtempSync(join(tmpdir(), 'ts-bench-forms-'));
  const redis = await startRedisServer();
  const secret = 'bench-webhook-secret-0123456789';
  const sb = await startJiraSandbox({ contract: true, seed: exampleSeed(), webhookSecret: secret });
  const logger = createLogger('silent');
  // The service's engine, catalog and id store, without HTTP or workers: only the sync runs.
  const runtime = await startRuntime({
    config: loadConfig({
      REDIS_URL: redis.url,
      DATA_DIR: dataDir,
      PORT: '0',
      LOG_LEVEL: 'silent',
      JIRA_BASE_URL: sb.url,
      JIRA_EMAIL: sb.credentials.email,
      JIRA_API_TOKEN: sb.credentials.apiToken,
      JIRA_WEBHOOK_SECRET: secret,
      JIRA_CONFIG_FILE: 'examples/jira-config.yaml',
    }),
    logger,
    http: false,
    workers: false,
  });
  try {
    const { engine } = runtime.opened;
    const ctx = { actor: 'platform-admin', surface: 'cli' as const };
    // As in the end-to-end story: one project and environment, so dynamic options have values.
    await engine.createProject({ id: 'checkout', name: 'Checkout' }, ctx);
    await engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ctx);
    await engine.attest('postgres-database', '1.4.0', 'qa-signed', 'quinn', ctx);
    const sync = new JiraFormsSync({
      client: new JiraClient({ baseUrl: sb.url, email: sb.credentials.email, apiToken: sb.credentials.apiToken, logger }),
      ids: runtime.ids,
      forms: runtime.forms,
      config: await loadJiraConfig('examples/jira-config.yaml'),
      options: new EngineOptionSources(engine),
      logger,
    });
    const runs: { writes: number; reported: number; calls: number; ms: number }[] = [];
    for (let i = 0; i < 2; i++) {
      const writesBefore = sb.writes().length;
      const callsBefore = sb.calls.length;
      const t = performance.now();
      const report = await sync.sync();
      runs.push({ writes: sb.writes().length - writesBefore, reported: report.writes, calls: sb.calls.length - callsBefore, ms: performance.now() - t });
    }
    const forms = await runtime.forms.all();
    console.log(`\nJira forms sync of the example catalog (${forms.map((f) => f.bundle).join(', ')}) against the sandbox, contract-checked:`);
    printTable([
      ['sync', 'write calls (sandbox saw)', 'writes (sync reported)', 'all calls', 'time (ms)', 'goal', ''],
      ['first', String(runs[0]!.writes), String(runs[0]!.reported), String(runs[0]!.calls), fmt(runs[0]!.ms, 0), '', ''],
      ['second, unchanged', String(runs[1]!.writes), String(runs[1]!.reported), String(runs[1]!.calls), fmt(runs[1]!.ms, 0), '0 writes', verdict(runs[1]!.writes === 0)],
    ]);
    const violations = sb.violations();
    console.log(`contract violations: ${violations.length}`);
  } finally {
    await runtime.close();
    await sb.stop();
    await redis.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const seconds = benchSeconds(5);
watchdog((seconds + 120) * 1000, 'forms bench');
await renderBench(seconds);
await syncBench();
process.exit(0);
