import { isAbsolute, join, resolve } from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config.ts';
import { openEngine, REPO_ROOT, type OpenedEngine } from './workflow/bootstrap.ts';
import { ConfigError } from './engine/errors.ts';
import type { Logger } from './engine/logger.ts';
import { Metrics } from './engine/metrics.ts';
import { systemClock, type Clock, type SurfaceName } from './engine/model.ts';
import { DeploymentRunner, InventoryDeploymentStore } from './engine/deployments.ts';
import { PackageLock } from './engine/package-lock.ts';
import { SurfaceIdStore } from './engine/surface-ids.ts';
import { RequestWorkflow } from './workflow/workflow.ts';
import { QueryCatalog } from './workflow/queries.ts';
import { FormCatalog } from './forms/catalog.ts';
import { ChangeWindowService, loadPolicy, loadDirectory, type Directory, type Policy, type WindowSource } from './policy/index.ts';
import { ProcessPlanScanner, createProvisioners } from './provisioners/index.ts';
import { queueNames, WorkflowQueues, type QueueNames } from './queue/queues.ts';
import { WorkflowWorkers, type IntakeHandler } from './queue/workers.ts';
import { createHttpApp } from './surfaces/http/app.ts';
import { webhookRouter } from './surfaces/http/webhooks.ts';
import { JiraSurface } from './surfaces/jira/adapter.ts';
import { JiraClient } from './surfaces/jira/client.ts';
import { JiraFormsSync } from './surfaces/jira/forms-sync.ts';
import { EngineOptionSources } from './workflow/form-options.ts';
import { loadJiraConfig } from './surfaces/jira/config.ts';
import { ViewBuilder } from './surfaces/shared/view-builder.ts';
import { ServiceNowSurface } from './surfaces/servicenow/adapter.ts';
import { ServiceNowBlackoutSource } from './surfaces/servicenow/blackouts.ts';
import { ServiceNowClient } from './surfaces/servicenow/client.ts';
import { loadServiceNowConfig } from './surfaces/servicenow/config.ts';
import { questionItem, ServiceNowFormsSync } from './surfaces/servicenow/forms-sync.ts';
import type { SurfaceAdapter } from './surfaces/surface.ts';

/** Options of {@link startRuntime}. */
export interface RuntimeOptions {
  config: Config;
  logger: Logger;
  clock?: Clock;
  /** Queue names (tests give each run its own). */
  queues?: QueueNames;
  http?: boolean;
  workers?: boolean;
  /** Extra window sources (a ServiceNow blackout schedule). */
  windowSources?: WindowSource[];
  /** Worker concurrency. */
  concurrency?: { intake?: number; requests?: number; outbox?: number };
  /** How often workers look for deployments and requests left behind by a crashed worker (ms, default 15000). */
  staleSweepMs?: number;
  /** How often workers look for attestation or environment changes to re-sync dropdowns (ms, default 2000). */
  dynamicOptionsPollMs?: number;
}

/**
 * Re-syncs dynamic form options (qa-signed versions, environments) on the ticket surfaces
 * when the audit log shows an attestation, a revocation or a new environment: whichever
 * process or surface made the change, the dropdown follows within one poll.
 */
function watchDynamicSources(engine: OpenedEngine['engine'], resync: () => Promise<unknown>, pollMs: number, logger: Logger): () => Promise<void> {
  let last = -1;
  let running: Promise<unknown> = Promise.resolve();
  const tick = async () => {
    const head = await engine.inventory.audit.head();
    if (last < 0) {
      last = head.seq;
      return;
    }
    if (head.seq === last) return;
    const events = await engine.inventory.audit.list({ after: last, limit: 1000 });
    last = head.seq;
    if (events.some((e) => e.action === 'bundle.attest' || e.action === 'bundle.revoke' || e.action === 'environment.create')) await resync();
  };
  const timer = setInterval(() => {
    running = running.then(tick).catch((err: unknown) => logger.warn({ err }, 'dynamic option resync failed'));
  }, pollMs);
  void tick().catch(() => undefined);
  return async () => {
    clearInterval(timer);
    await running;
  };
}

/** Everything one process runs: engine, workflow, queues, surfaces, HTTP and workers. */
export interface Runtime {
  config: Config;
  opened: OpenedEngine;
  policy: Policy;
  forms: FormCatalog;
  runner: DeploymentRunner;
  workflow: RequestWorkflow;
  queues: WorkflowQueues;
  adapters: Partial<Record<'jira' | 'servicenow', SurfaceAdapter>>;
  jira?: JiraSurface;
  servicenow?: ServiceNowSurface;
  /** `forms sync --surface servicenow` as this service runs it: one item per bundle plus the question item. */
  servicenowSync?: ServiceNowFormsSync;
  ids: SurfaceIdStore;
  metrics: Metrics;
  url?: string;
  close(): Promise<void>;
}

/** Builds and starts the service. */
export async function startRuntime(opts: RuntimeOptions): Promise<Runtime> {
  const { config, logger } = opts;
  const clock = opts.clock ?? systemClock;
  const opened = await openEngine(config, { clock });
  for (const issue of opened.bundleIssues) logger.warn({ file: issue.file, pointer: issue.pointer, problem: issue.message }, 'bundle skipped');
  const { engine } = opened;
  const redis = opened.redis.redis;
  const closers: (() => Promise<void>)[] = [];
  try {
    const policyPath = resolve(config.POLICY_FILE);
    const policy = await loadPolicy({ path: policyPath }).catch(async (err: unknown) => {
      if ((err as { code?: string }).code === 'ENOENT') return loadPolicy({ path: join(REPO_ROOT, config.POLICY_FILE) });
      throw err;
    });
    // ServiceNow's blackout schedules are a window source, so its client exists before the windows.
    const snConfig = config.SERVICENOW_INSTANCE_URL ? await loadServiceNowConfig(config.SERVICENOW_CONFIG_FILE ?? 'examples/servicenow-config.yaml') : undefined;
    const snClient = config.SERVICENOW_INSTANCE_URL
      ? new ServiceNowClient({ instanceUrl: config.SERVICENOW_INSTANCE_URL, user: config.SERVICENOW_USER!, password: config.SERVICENOW_PASSWORD!, logger })
      : undefined;
    const snWindowSources = snClient && snConfig?.blackouts.enabled ? [new ServiceNowBlackoutSource({ client: snClient, config: snConfig.blackouts, logger })] : [];
    const windows = new ChangeWindowService(policy, [...(opts.windowSources ?? []), ...snWindowSources]);
    const formsDir = isAbsolute(config.FORMS_DIR) ? config.FORMS_DIR : join(REPO_ROOT, config.FORMS_DIR);
    const forms = new FormCatalog(engine.registry, formsDir);
    const dataDir = resolve(config.DATA_DIR);
    const runner = new DeploymentRunner({
      store: new InventoryDeploymentStore(engine.inventory),
      getBundle: (name, version) => engine.registry.get(name, version),
      provisioners: createProvisioners({ tofuBin: config.TOFU_BIN, terraformBin: config.TERRAFORM_BIN }),
      scanner: new ProcessPlanScanner(),
      lock: new PackageLock(redis, { prefix: config.REDIS_PREFIX }),
      validateArtifact: (definition, data) => engine.registry.validateArtifact(definition, data),
      sensitivePointers: (definition) => engine.registry.artifactDefinition(definition).sensitivePointers,
      workRoot: join(dataDir, 'work'),
      stateRoot: join(dataDir, 'state'),
      clock,
      logger,
    });
    const queues = new WorkflowQueues({ connection: redis, names: opts.queues ?? queueNames(config.REDIS_PREFIX.replace(/[^a-z0-9]/gi, '') || 'ts') });
    closers.push(() => queues.close());
    const ids = new SurfaceIdStore(redis, config.REDIS_PREFIX);
    const views = new ViewBuilder(engine, windows, clock);
    const directories: Partial<Record<SurfaceName, Directory>> = {};
    const apiDirectory = await loadDirectory(config.DIRECTORY_FILE);
    directories.cli = apiDirectory;
    directories.http = apiDirectory;
    const adapters: Runtime['adapters'] = {};
    // The workflow and the Jira adapter need each other; the adapter gets the workflow once built.
    let workflowRef: RequestWorkflow | undefined;
    let jira: JiraSurface | undefined;
    let jiraSync: JiraFormsSync | undefined;
    if (config.JIRA_BASE_URL) {
      const jiraConfig = await loadJiraConfig(config.JIRA_CONFIG_FILE ?? 'examples/jira-config.yaml');
      const client = new JiraClient({ baseUrl: config.JIRA_BASE_URL, email: config.JIRA_EMAIL!, apiToken: config.JIRA_API_TOKEN!, logger });
      jira = new JiraSurface({
        config: jiraConfig,
        client,
        webhookSecret: config.JIRA_WEBHOOK_SECRET!,
        engine,
        get workflow() {
          return workflowRef!;
        },
        forms,
        ids,
        views,
        baseUrl: config.JIRA_BASE_URL.replace(/\/$/, ''),
      });
      adapters.jira = jira;
      directories.jira = jira.directory;
      jiraSync = new JiraFormsSync({ client, ids, forms, config: jiraConfig, options: new EngineOptionSources(engine), logger });
    }
    let servicenow: ServiceNowSurface | undefined;
    let snSync: ServiceNowFormsSync | undefined;
    if (snClient && snConfig) {
      // One catalog answers the question item and `/ask`, and lists its queries as the item's choices.
      const queries = new QueryCatalog(engine);
      servicenow = new ServiceNowSurface({
        queries,
        config: snConfig,
        client: snClient,
        webhook: {
          secret: config.SERVICENOW_WEBHOOK_SECRET!,
          ...(config.SERVICENOW_WEBHOOK_USER && config.SERVICENOW_WEBHOOK_PASSWORD ? { basic: { username: config.SERVICENOW_WEBHOOK_USER, password: config.SERVICENOW_WEBHOOK_PASSWORD } } : {}),
        },
        engine,
        get workflow() {
          return workflowRef!;
        },
        forms,
        ids,
        views,
        clock,
        logger,
        instanceUrl: config.SERVICENOW_INSTANCE_URL!,
        integrationUser: config.SERVICENOW_USER!,
      });
      adapters.servicenow = servicenow;
      directories.servicenow = servicenow.directory;
      snSync = new ServiceNowFormsSync({
        client: snClient,
        ids,
        forms,
        options: new EngineOptionSources(engine),
        logger,
        publish: snConfig.catalog,
        extraItems: () => [questionItem(queries.list())],
      });
    }
    const workflow = new RequestWorkflow({ engine, runner, forms, policy, windows, directories, ports: queues, clock, logger });
    workflowRef = workflow;
    const metrics = new Metrics();

    if (opts.workers ?? config.RUN_WORKERS) {
      await runner.recoverStale();
      // A crashed worker's deployment is found once its lock expires; its request is failed then.
      const sweep = setInterval(() => {
        void runner
          .recoverStale()
          .then(() => workflow.reconcileApplying())
          .catch((err: unknown) => logger.warn({ err }, 'stale deployment sweep failed'));
      }, opts.staleSweepMs ?? 15_000);
      closers.unshift(async () => clearInterval(sweep));
      const intake: Record<string, IntakeHandler> = {};
      for (const [name, a] of Object.entries(adapters)) if (a) intake[name] = a;
      const workers = new WorkflowWorkers({
        connection: redis,
        redis,
        names: opts.queues ?? queueNames(config.REDIS_PREFIX.replace(/[^a-z0-9]/gi, '') || 'ts'),
        keyPrefix: config.REDIS_PREFIX,
        workflow,
        intake,
        outbox: {
          deliver: async (notice, log) => {
            const r = await engine.requests.get(notice.requestId);
            const adapter = adapters[r.origin.surface as 'jira' | 'servicenow'];
            if (adapter) await adapter.publish(notice, log);
          },
        },
        logger,
        metrics,
        ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
      });
      workers.start();
      closers.unshift(() => workers.close());
      if (jira && jiraSync) {
        const sync = jiraSync;
        closers.unshift(watchDynamicSources(engine, () => sync.resyncDynamicOptions(), opts.dynamicOptionsPollMs ?? 2000, logger));
      }
      if (snSync) {
        const sync = snSync;
        closers.unshift(watchDynamicSources(engine, () => sync.resyncDynamicOptions(), opts.dynamicOptionsPollMs ?? 2000, logger));
      }
    }

    let url: string | undefined;
    if (opts.http ?? true) {
      const app = createHttpApp({
        engine,
        workflow,
        redis,
        logger,
        metrics,
        mount: (a) => a.use(webhookRouter({ adapters, queues, redis, keyPrefix: config.REDIS_PREFIX, logger, metrics })),
      });
      const server: Server = await new Promise((res) => {
        const s = app.listen(config.PORT, config.HOST, () => res(s));
      });
      url = `http://${config.HOST}:${(server.address() as AddressInfo).port}`;
      closers.unshift(() => new Promise<void>((res) => server.close(() => res())));
    }
    return {
      config,
      opened,
      policy,
      forms,
      runner,
      workflow,
      queues,
      adapters,
      ...(jira ? { jira } : {}),
      ...(servicenow ? { servicenow } : {}),
      ...(snSync ? { servicenowSync: snSync } : {}),
      ids,
      metrics,
      ...(url ? { url } : {}),
      close: async () => {
        for (const c of closers) await c();
        await opened.close();
      },
    };
  } catch (err) {
    for (const c of closers) await c().catch(() => undefined);
    await opened.close();
    throw err;
  }
}
