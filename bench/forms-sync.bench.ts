/**
 * Forms sync, both surfaces: write calls (as the sandbox saw them and as the sync reported them),
 * all calls and time of a first and a second `forms sync` of the example catalog against the
 * contract-checked Jira and ServiceNow sandboxes (goal for the second: 0 writes), and how long a
 * new qa-signed version takes to become a dropdown choice through `resyncDynamicOptions`
 * (goal: within seconds). Prints figures, asserts nothing.
 *
 *   node --import tsx bench/forms-sync.bench.ts
 */
import { performance } from 'node:perf_hooks';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.ts';
import { openEngine } from '../src/workflow/bootstrap.ts';
import { createLogger } from '../src/engine/logger.ts';
import { QueryCatalog } from '../src/workflow/queries.ts';
import { startRedisServer } from '../src/engine/redis-server.ts';
import { SurfaceIdStore } from '../src/engine/surface-ids.ts';
import { FormCatalog } from '../src/forms/catalog.ts';
import { EngineOptionSources } from '../src/workflow/form-options.ts';
import { loadJiraConfig } from '../src/surfaces/jira/config.ts';
import { JiraClient } from '../src/surfaces/jira/client.ts';
import { JiraFormsSync } from '../src/surfaces/jira/forms-sync.ts';
import { ServiceNowClient } from '../src/surfaces/servicenow/client.ts';
import { questionItem, ServiceNowFormsSync } from '../src/surfaces/servicenow/forms-sync.ts';
import { startJiraSandbox, exampleSeed as jiraSeed } from '../sandbox/jira/index.ts';
import { startServiceNowSandbox } from '../sandbox/servicenow/servicenow-sandbox.ts';
import { exampleSeed as serviceNowSeed } from '../sandbox/servicenow/example-seed.ts';
import { fmt, printTable, verdict, watchdog } from './lib/report.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

interface Sandbox {
  writes(): unknown[];
  calls: unknown[];
  violations(): unknown[];
}
interface Sync {
  sync(): Promise<{ writes: number }>;
  resyncDynamicOptions(): Promise<{ writes: number }>;
}

async function measure(name: string, sb: Sandbox, sync: Sync, rows: string[][]): Promise<void> {
  for (const label of ['first', 'second, unchanged']) {
    const writes = sb.writes().length;
    const calls = sb.calls.length;
    const t = performance.now();
    const report = await sync.sync();
    const ms = performance.now() - t;
    const saw = sb.writes().length - writes;
    const second = label !== 'first';
    rows.push([name, label, String(saw), String(report.writes), String(sb.calls.length - calls), fmt(ms, 0), second ? '0 writes' : '', second ? verdict(saw === 0) : '']);
  }
}

const dataDir = mkdtempSync(join(tmpdir(), 'ts-bench-forms-sync-'));
const redis = await startRedisServer();
const jira = await startJiraSandbox({ contract: true, seed: jiraSeed() });
const sn = await startServiceNowSandbox({ contract: true, seed: serviceNowSeed() });
const stop = async () => {
  await jira.stop();
  await sn.stop();
  await redis.stop();
  rmSync(dataDir, { recursive: true, force: true });
};
watchdog(120_000, 'forms sync bench', stop);
const logger = createLogger('silent');
const opened = await openEngine(loadConfig({ REDIS_URL: redis.url, DATA_DIR: dataDir, LOG_LEVEL: 'silent' }));
try {
  const { engine } = opened;
  const ctx = { actor: 'platform-admin', surface: 'cli' as const };
  // As in the stories: one project and environment, so the dynamic dropdowns have values.
  await engine.createProject({ id: 'checkout', name: 'Checkout' }, ctx);
  await engine.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ctx);
  const ids = new SurfaceIdStore(opened.redis.redis);
  const forms = new FormCatalog(engine.registry, join(ROOT, 'forms'));
  const options = new EngineOptionSources(engine);
  const jiraSync = new JiraFormsSync({
    client: new JiraClient({ baseUrl: jira.url, email: jira.credentials.email, apiToken: jira.credentials.apiToken, logger }),
    ids,
    forms,
    config: await loadJiraConfig(join(ROOT, 'examples', 'jira-config.yaml')),
    options,
    logger,
  });
  const snSync = new ServiceNowFormsSync({
    client: new ServiceNowClient({ instanceUrl: sn.url, user: sn.credentials.username, password: sn.credentials.password, logger }),
    ids,
    forms,
    options,
    logger,
    extraItems: () => [questionItem(new QueryCatalog(engine).list())],
  });

  const rows: string[][] = [['surface', 'sync', 'write calls (sandbox saw)', 'writes (sync reported)', 'all calls', 'time (ms)', 'goal', '']];
  await measure('Jira', jira, jiraSync, rows);
  await measure('ServiceNow', sn, snSync, rows);
  const catalog = await forms.all();
  console.log(`forms sync of the example catalog (${catalog.map((f) => f.bundle).join(', ')}; ServiceNow also the question item) against the contract-checked sandboxes:`);
  printTable(rows);

  // A new qa-signed version: attest, then one resync per surface, as the workers do on the audit event.
  const t = performance.now();
  await engine.attest('checkout-api', '2.14.0', 'qa-signed', 'quinn', ctx);
  const attested = performance.now() - t;
  const resync: string[][] = [['surface', 'writes', 'resync (ms)', 'attest + resync (ms)', 'goal', '']];
  for (const [name, sync] of [['Jira', jiraSync], ['ServiceNow', snSync]] as const) {
    const r0 = performance.now();
    const report = await sync.resyncDynamicOptions();
    const ms = performance.now() - r0;
    resync.push([name, String(report.writes), fmt(ms, 1), fmt(attested + ms, 1), '< 1000 ms', verdict(attested + ms < 1000)]);
  }
  console.log('\na new qa-signed version of checkout-api reaching the Version dropdown (the workers add at most one poll interval, 2 s by default):');
  printTable(resync);
  console.log(`\ncontract violations: Jira ${jira.violations().length}, ServiceNow ${sn.violations().length}`);
} finally {
  await opened.close();
  await stop();
}
process.exit(0);
