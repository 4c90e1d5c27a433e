import { isAbsolute, join, resolve } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { stateBackendOf, type Config } from './config.ts';
import { openEngine, REPO_ROOT, type OpenedEngine } from './workflow/bootstrap.ts';
import type { Logger } from './engine/logger.ts';
import { Metrics } from './engine/metrics.ts';
import { systemClock, type Clock, type SurfaceName } from './engine/model.ts';
import { DeploymentRunner, InventoryDeploymentStore } from './engine/deployments.ts';
import { PackageLock } from './engine/package-lock.ts';
import { SurfaceIdStore } from './engine/surface-ids.ts';
import { RequestWorkflow } from './workflow/workflow.ts';
import { DriftDesk } from './workflow/drift.ts';
import { DriftSchedule } from './queue/drift-schedule.ts';
import { ObserveRunner } from './engine/observe.ts';
import { DEFAULT_STUCK_AFTER_MS, RequestRecovery } from './workflow/recovery.ts';
import type { Faults } from './workflow/faults.ts';
import { QueryCatalog } from './workflow/queries.ts';
import { FormCatalog } from './forms/catalog.ts';
import { ChangeWindowService, driftRulesFor, loadPolicy, loadPeople, PersonResolver, type Directory, type People, type Policy, type WindowSource } from './policy/index.ts';
import { Authorizer } from './workflow/authorize.ts';
import { FreezeDesk } from './workflow/freeze.ts';
import { STACK_MARKER, StackDesk } from './workflow/stacks.ts';
import { loadStackTemplates, type StackTemplate } from './workflow/stack-template.ts';
import { LeaseJobs } from './queue/lease-jobs.ts';
import { TokenStore } from './workflow/tokens.ts';
import { ProcessPlanScanner, createProvisioners } from './provisioners/index.ts';
import { DeadLetters } from './queue/dead-letters.ts';
import { NoticeDeadLetters } from './queue/notice-dead-letters.ts';
import { queueNamesForPrefix, WorkflowQueues, type QueueNames } from './queue/queues.ts';
import { WorkflowWorkers, type IntakeHandler } from './queue/workers.ts';
import { OutboxRelay, requestsWithJobs } from './queue/outbox-relay.ts';
import { createHttpApp } from './surfaces/http/app.ts';
import { HttpAuthenticator, oidcKeys } from './surfaces/http/auth.ts';
import { WebhookDoor } from './surfaces/http/webhooks.ts';
import { JiraSurface } from './surfaces/jira/adapter.ts';
import { JiraClient } from './surfaces/jira/client.ts';
import { JiraFormsSync } from './surfaces/jira/forms-sync.ts';
import { EngineOptionSources } from './workflow/form-options.ts';
import { loadJiraConfig } from './surfaces/jira/config.ts';
import { ViewBuilder } from './surfaces/shared/view-builder.ts';
import { ServiceNowSurface } from './surfaces/servicenow/adapter.ts';
import { ServiceNowBlackoutSource } from './surfaces/servicenow/blackouts.ts';
import { ServiceNowClient, serviceNowCredentials } from './surfaces/servicenow/client.ts';
import { loadServiceNowConfig, type ServiceNowSurfaceConfig } from './surfaces/servicenow/config.ts';
import { questionItem, ServiceNowFormsSync } from './surfaces/servicenow/forms-sync.ts';
import { decommissionItem, livePackages } from './surfaces/servicenow/decommission-item.ts';
import { stackItem } from './surfaces/servicenow/stack-item.ts';
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
  /** A request without an owner is resumed once it waited this long since its last update (ms, default 2 minutes). */
  stuckAfterMs?: number;
  /** How often the outbox relay looks for work other processes owed (ms, default 100). */
  relayPollMs?: number;
  /** Crash injection (tests only). */
  faults?: Faults;
  /** How often workers look for attestation or environment changes to re-sync dropdowns (ms, default 2000). */
  dynamicOptionsPollMs?: number;
  /** HTTP server timeouts (default {@link HTTP_TIMEOUTS}). */
  httpTimeouts?: HttpTimeouts;
  /** Scheduled drift checks: `everyMs` instead of every policy cadence (tests), how often new environments are picked up (ms, default 60000). */
  driftSchedule?: { everyMs?: number; resyncMs?: number };
  /** Where the stack templates are (default: examples/stacks of the repository). */
  stacksDir?: string;
}

/** How long the HTTP server waits on a client before cutting it off. */
export interface HttpTimeouts {
  /** For the request line and headers (a client dripping headers is cut off after this). */
  headersMs: number;
  /** For the whole request, body included (bodies are at most 1 MiB). */
  requestMs: number;
  /** For the next request on an idle keep-alive connection. */
  keepAliveMs: number;
}

/** Ten seconds for headers, thirty for a whole request, five idle between keep-alive requests. */
export const HTTP_TIMEOUTS: HttpTimeouts = { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000 };

/**
 * Re-syncs dynamic form options (qa-signed versions, environments) on the ticket surfaces
 * when the audit log shows an attestation, a revocation or a new environment (or an action in
 * `also`): whichever process or surface made the change, the dropdown follows within one poll.
 */
function watchDynamicSources(engine: OpenedEngine['engine'], resync: () => Promise<unknown>, pollMs: number, logger: Logger, also: readonly string[] = []): () => Promise<void> {
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
    if (events.some((e) => e.action === 'bundle.attest' || e.action === 'bundle.revoke' || e.action === 'environment.create' || also.includes(e.action))) await resync();
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
  /** Drift checks and decisions (reality as a surface). */
  drift: DriftDesk;
  /** Scheduled drift checks, in a process that runs the workers. */
  driftSchedule?: DriftSchedule;
  /** Stacks and preview environments with leases. */
  stacks: StackDesk;
  /** The lease jobs, in a process that runs the workers. */
  leaseJobs?: LeaseJobs;
  /** Finds (and, in a worker, resumes) requests left without an owner. */
  recovery: RequestRecovery;
  queues: WorkflowQueues;
  adapters: Partial<Record<SurfaceAdapter['name'], SurfaceAdapter>>;
  jira?: JiraSurface;
  servicenow?: ServiceNowSurface;
  /** `forms sync --surface servicenow` as this service runs it: one item per bundle plus the question item. */
  servicenowSync?: ServiceNowFormsSync;
  ids: SurfaceIdStore;
  metrics: Metrics;
  /** The people of the directory (DIRECTORY_FILE). */
  people: People;
  /** Who may do what (the CLI builds its principal here: `authorizer.cliPrincipal(user)`). */
  authorizer: Authorizer;
  /** API tokens: create, list, revoke (admins), verify. */
  tokens: TokenStore;
  /** Freezing and lifting environments (admins). */
  freezes: FreezeDesk;
  url?: string;
  close(): Promise<void>;
}

/** Everything closed when the runtime stops, closed in reverse order of starting (last started, first closed). */
class CloseStack {
  private readonly closers: (() => Promise<void>)[] = [];

  /** Adds what closes the thing just started. */
  push(close: () => Promise<void>): void {
    this.closers.push(close);
  }

  /** Closes everything, newest first. */
  async close(): Promise<void> {
    for (const c of [...this.closers].reverse()) await c();
  }

  /** Closes everything after a failed start, ignoring further failures. */
  async abandon(): Promise<void> {
    for (const c of [...this.closers].reverse()) await c().catch(() => undefined);
  }
}

/** The queue names of this runtime (tests give each run its own). */
function runtimeQueueNames(opts: RuntimeOptions): QueueNames {
  return opts.queues ?? queueNamesForPrefix(opts.config.REDIS_PREFIX);
}

/** The policy file, relative to the working directory or else to the repository. */
async function loadPolicyFile(config: Config): Promise<Policy> {
  return loadPolicy({ path: resolve(config.POLICY_FILE) }).catch(async (err: unknown) => {
    if ((err as { code?: string }).code === 'ENOENT') return loadPolicy({ path: join(REPO_ROOT, config.POLICY_FILE) });
    throw err;
  });
}

/** The ServiceNow instance when configured: its client is needed early, its blackouts are a window source. */
interface ServiceNowConnection {
  config: ServiceNowSurfaceConfig;
  client: ServiceNowClient;
}

/** The ServiceNow configuration and client, or undefined when no instance is configured. */
async function connectServiceNow(config: Config, logger: Logger): Promise<ServiceNowConnection | undefined> {
  if (!config.SERVICENOW_INSTANCE_URL) return undefined;
  const snConfig = await loadServiceNowConfig(config.SERVICENOW_CONFIG_FILE ?? 'examples/servicenow-config.yaml');
  const client = new ServiceNowClient({ instanceUrl: config.SERVICENOW_INSTANCE_URL, credentials: serviceNowCredentials(config), logger });
  return { config: snConfig, client };
}

/** The deployment runner: plan and apply through the provisioner port, one package at a time. */
function createDeploymentRunner(config: Config, opened: OpenedEngine, clock: Clock, logger: Logger): DeploymentRunner {
  const { engine } = opened;
  const dataDir = resolve(config.DATA_DIR);
  return new DeploymentRunner({
    store: new InventoryDeploymentStore(engine.inventory),
    getBundle: (name, version) => engine.registry.get(name, version),
    provisioners: createProvisioners({ tofuBin: config.TOFU_BIN, terraformBin: config.TERRAFORM_BIN, stateBackend: stateBackendOf(config) }),
    scanner: new ProcessPlanScanner(),
    lock: new PackageLock(opened.redis.redis, { prefix: config.REDIS_PREFIX }),
    validateArtifact: (definition, data) => engine.registry.validateArtifact(definition, data),
    sensitivePointers: (definition) => engine.registry.artifactDefinition(definition).sensitivePointers,
    workRoot: join(dataDir, 'work'),
    stateRoot: join(dataDir, 'state'),
    clock,
    logger,
  });
}

/** The drift desk: observes through the same provisioners, state and lock as the deployment runner. */
function createDriftDesk(config: Config, f: Foundation, policy: Policy, workflow: RequestWorkflow, authorizer: Authorizer, clock: Clock, logger: Logger): DriftDesk {
  const { engine } = f;
  const dataDir = resolve(config.DATA_DIR);
  const observer = new ObserveRunner({
    store: new InventoryDeploymentStore(engine.inventory),
    getBundle: (name, version) => engine.registry.get(name, version),
    provisioners: createProvisioners({ tofuBin: config.TOFU_BIN, terraformBin: config.TERRAFORM_BIN }),
    lock: new PackageLock(f.opened.redis.redis, { prefix: config.REDIS_PREFIX }),
    workRoot: join(dataDir, 'work'),
    stateRoot: join(dataDir, 'state'),
    clock,
  });
  return new DriftDesk({ engine, observer, forms: f.forms, policy, authorizer, submit: (input) => workflow.submit(input), clock, logger });
}

/** What the workflow and every surface stand on: engine, policy and windows, forms, runner, queues. */
interface Foundation {
  opened: OpenedEngine;
  engine: OpenedEngine['engine'];
  clock: Clock;
  policy: Policy;
  windows: ChangeWindowService;
  forms: FormCatalog;
  runner: DeploymentRunner;
  queues: WorkflowQueues;
  ids: SurfaceIdStore;
  views: ViewBuilder;
  /** The people, their ids on every surface, groups and roles. */
  people: People;
}

/** Policy and change windows, forms, the deployment runner, the queues and the surface-neutral helpers. */
async function buildFoundation(
  opts: RuntimeOptions,
  opened: OpenedEngine,
  clock: Clock,
  policy: Policy,
  serviceNow: ServiceNowConnection | undefined,
  closers: CloseStack,
): Promise<Foundation> {
  const { config, logger } = opts;
  const { engine } = opened;
  const redis = opened.redis.redis;
  const snWindowSources = serviceNow?.config.blackouts.enabled ? [new ServiceNowBlackoutSource({ client: serviceNow.client, config: serviceNow.config.blackouts, logger })] : [];
  const windows = new ChangeWindowService(policy, [...(opts.windowSources ?? []), ...snWindowSources]);
  const formsDir = isAbsolute(config.FORMS_DIR) ? config.FORMS_DIR : join(REPO_ROOT, config.FORMS_DIR);
  const forms = new FormCatalog(engine.registry, formsDir);
  const runner = createDeploymentRunner(config, opened, clock, logger);
  const queues = new WorkflowQueues({ connection: redis, names: runtimeQueueNames(opts) });
  closers.push(() => queues.close());
  const ids = new SurfaceIdStore(redis, config.REDIS_PREFIX);
  const views = new ViewBuilder(engine, windows, clock);
  const people = await loadPeople(config.DIRECTORY_FILE);
  return { opened, engine, clock, policy, windows, forms, runner, queues, ids, views, people };
}

/** The workflow, handed to the surfaces once it exists (they and the workflow need each other). */
type LateWorkflow = () => RequestWorkflow;

/** The drift desk, handed to the surfaces once it exists (it stands on the workflow). */
type LateDrift = () => DriftDesk | undefined;

/** The freeze desk, handed to the Jira surface once it exists (admin commands in tickets). */
type LateFreezes = () => FreezeDesk | undefined;
/** The stack desk, handed to the surfaces once it exists (it stands on the workflow). */
type LateStacks = () => StackDesk | undefined;

/** A wired ticket surface: its adapter and its forms sync (which re-syncs dynamic dropdowns). */
interface WiredSurface<S extends SurfaceAdapter, F> {
  surface: S;
  sync: F;
}

/** The Jira adapter and its forms sync, when `JIRA_BASE_URL` is set. */
async function wireJira(config: Config, logger: Logger, f: Foundation, workflow: LateWorkflow, drift: LateDrift, freezes: LateFreezes, stacks?: LateStacks): Promise<WiredSurface<JiraSurface, JiraFormsSync> | undefined> {
  if (!config.JIRA_BASE_URL) return undefined;
  const jiraConfig = await loadJiraConfig(config.JIRA_CONFIG_FILE ?? 'examples/jira-config.yaml');
  const client = new JiraClient({
    baseUrl: config.JIRA_BASE_URL,
    email: config.JIRA_EMAIL!,
    apiToken: config.JIRA_API_TOKEN!,
    logger,
    ...(jiraConfig.workflowCacheSeconds !== undefined ? { workflowCacheSeconds: jiraConfig.workflowCacheSeconds } : {}),
  });
  const surface = new JiraSurface({
    config: jiraConfig,
    client,
    webhookSecret: config.JIRA_WEBHOOK_SECRET!,
    engine: f.engine,
    get workflow() {
      return workflow();
    },
    forms: f.forms,
    ids: f.ids,
    views: f.views,
    drift,
    freezes,
    ...(stacks ? { stacks } : {}),
    baseUrl: config.JIRA_BASE_URL.replace(/\/$/, ''),
  });
  const sync = new JiraFormsSync({ client, ids: f.ids, forms: f.forms, config: jiraConfig, options: new EngineOptionSources(f.engine), logger });
  return { surface, sync };
}

/** The ServiceNow adapter and its forms sync (one catalog item per bundle plus the decommission, question and preview environment items), when configured. */
function wireServiceNow(config: Config, logger: Logger, f: Foundation, sn: ServiceNowConnection | undefined, workflow: LateWorkflow, drift: LateDrift, stacks?: LateStacks): WiredSurface<ServiceNowSurface, ServiceNowFormsSync> | undefined {
  if (!sn) return undefined;
  // One catalog answers the question item and `/ask`, and lists its queries as the item's choices.
  const queries = new QueryCatalog(f.engine);
  const surface = new ServiceNowSurface({
    queries,
    config: sn.config,
    client: sn.client,
    webhook: {
      secret: config.SERVICENOW_WEBHOOK_SECRET!,
      ...(config.SERVICENOW_WEBHOOK_USER && config.SERVICENOW_WEBHOOK_PASSWORD ? { basic: { username: config.SERVICENOW_WEBHOOK_USER, password: config.SERVICENOW_WEBHOOK_PASSWORD } } : {}),
    },
    engine: f.engine,
    get workflow() {
      return workflow();
    },
    forms: f.forms,
    ids: f.ids,
    views: f.views,
    drift,
    ...(stacks ? { stacks } : {}),
    clock: f.clock,
    logger,
    instanceUrl: config.SERVICENOW_INSTANCE_URL!,
    integrationUser: config.SERVICENOW_USER!,
  });
  const sync = new ServiceNowFormsSync({
    client: sn.client,
    ids: f.ids,
    forms: f.forms,
    options: new EngineOptionSources(f.engine),
    logger,
    publish: sn.config.catalog,
    extraItems: async () => {
      const templates = stacks?.()?.templateNames() ?? [];
      return [decommissionItem(await livePackages(f.engine, sn.config.project)), ...(templates.length ? [stackItem(templates)] : []), questionItem(queries.list())];
    },
  });
  return { surface, sync };
}

/** The ticket surfaces this process serves, and the directories approvals are checked against. */
interface Surfaces {
  adapters: Runtime['adapters'];
  directories: Partial<Record<SurfaceName, Directory>>;
  jira?: WiredSurface<JiraSurface, JiraFormsSync>;
  servicenow?: WiredSurface<ServiceNowSurface, ServiceNowFormsSync>;
}

/** Every configured ticket surface; the API and the CLI check approvers against the directory file's people. */
async function wireSurfaces(opts: RuntimeOptions, f: Foundation, sn: ServiceNowConnection | undefined, workflow: LateWorkflow, drift: LateDrift, freezes: LateFreezes, stacks?: LateStacks): Promise<Surfaces> {
  const { config, logger } = opts;
  const out: Surfaces = { adapters: {}, directories: { cli: f.people.directoryFor('cli'), http: f.people.directoryFor('http') } };
  const jira = await wireJira(config, logger, f, workflow, drift, freezes, stacks);
  if (jira) {
    out.jira = jira;
    out.adapters.jira = jira.surface;
    out.directories.jira = jira.surface.directory;
  }
  const servicenow = wireServiceNow(config, logger, f, sn, workflow, drift, stacks);
  if (servicenow) {
    out.servicenow = servicenow;
    out.adapters.servicenow = servicenow.surface;
    out.directories.servicenow = servicenow.surface.directory;
  }
  return out;
}

/**
 * The queue workers: intake through the surface adapters, requests through the workflow, the
 * outbox back to the request's own surface; plus the sweep for work a crashed worker left
 * behind and the watchers that keep dynamic dropdowns in step.
 */
async function startWorkers(opts: RuntimeOptions, f: Foundation, surfaces: Surfaces, workflow: RequestWorkflow, recovery: RequestRecovery, metrics: Metrics, closers: CloseStack, stacks?: StackDesk): Promise<void> {
  const { config, logger } = opts;
  const redis = f.opened.redis.redis;
  // The outbox relay hands what requests owe to the queues (exactly once per entry key).
  const relay = new OutboxRelay({ outbox: f.engine.inventory.outbox, ports: f.queues, logger, ...(opts.relayPollMs ? { pollMs: opts.relayPollMs } : {}), ...(opts.faults ? { faults: opts.faults } : {}) });
  relay.start();
  closers.push(() => relay.close());
  await f.runner.recoverStale();
  // A crashed worker's deployment is found once its lock expires; its request is failed then.
  // Requests left without an owner for longer than the bound are resumed from their stored facts.
  const sweep = setInterval(() => {
    void f.runner
      .recoverStale()
      .then(() => workflow.reconcileApplying())
      .then(() => recovery.sweep(opts.stuckAfterMs ?? DEFAULT_STUCK_AFTER_MS))
      .then(() => stacks?.tick())
      .catch((err: unknown) => logger.warn({ err }, 'stale deployment sweep failed'));
  }, opts.staleSweepMs ?? 15_000);
  closers.push(async () => clearInterval(sweep));
  const intake: Record<string, IntakeHandler> = {};
  for (const [name, a] of Object.entries(surfaces.adapters)) if (a) intake[name] = a;
  const workers = new WorkflowWorkers({
    connection: redis,
    redis,
    names: runtimeQueueNames(opts),
    keyPrefix: config.REDIS_PREFIX,
    workflow,
    intake,
    outbox: {
      // A notice only shows what it reads: the request, its package, environment and deployment are read once per notice, in one round trip.
      deliver: (notice, log, attempt) => f.engine.inventory.readScope(async () => {
        await f.engine.inventory.findRequestWithLinks(notice.requestId);
        const r = await f.engine.requests.get(notice.requestId);
        // A package of a stack: its progress moves the stack on, whose one status comment tells it.
        const stack = r.submitted?.[STACK_MARKER];
        // Moving a stack on reads and writes under its own lock: outside the notice's read scope.
        if (typeof stack === 'string' && stacks && notice.message !== 'drift') return void (await f.engine.inventory.outsideReadScope(() => stacks.advance(stack)));
        // Drift of a package no ticket made (CLI, API) goes to Jira when policy files drift as a new ticket.
        const adapter = surfaces.adapters[r.origin.surface as SurfaceAdapter['name']] ?? (notice.detail?.episode ? surfaces.adapters.jira : undefined);
        if (adapter) await adapter.publish(notice, log, attempt);
      }),
    },
    logger,
    metrics,
    ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
  });
  workers.start();
  closers.push(() => workers.close());
  for (const wired of [surfaces.jira, surfaces.servicenow]) {
    if (!wired) continue;
    const sync = wired.sync;
    // ServiceNow's decommission item lists the live packages: a deployment may change them.
    const also = wired === surfaces.servicenow ? ['package.deploy'] : [];
    closers.push(watchDynamicSources(f.engine, () => sync.resyncDynamicOptions(), opts.dynamicOptionsPollMs ?? 2000, logger, also));
  }
}

/**
 * Scheduled drift checks (workers only): one repeatable job per environment whose drift policy
 * sets `check_every`, at that cadence; each run checks the environment's applied packages.
 */
async function startDriftSchedule(opts: RuntimeOptions, f: Foundation, drift: DriftDesk, closers: CloseStack): Promise<DriftSchedule> {
  const { engine } = f;
  const schedule = new DriftSchedule({
    connection: f.opened.redis.redis,
    name: runtimeQueueNames(opts).drift,
    check: (id) => drift.check(id),
    environments: () => engine.inventory.list('environment', {}),
    packages: (environment) => engine.inventory.list('package', { environment }),
    cadence: (env) => {
      const every = driftRulesFor(f.policy, { name: env.name, labels: env.labels }).checkEveryMs;
      return every ? (opts.driftSchedule?.everyMs ?? every) : undefined;
    },
    logger: opts.logger,
    ...(opts.driftSchedule?.resyncMs ? { resyncMs: opts.driftSchedule.resyncMs } : {}),
  });
  await schedule.start();
  closers.push(() => schedule.close());
  return schedule;
}

/**
 * The stack desk over the repository's stack templates (a template that does not load is logged
 * and left out), and, in a process that runs the workers, its lease jobs (recovered at start).
 */
async function buildStacks(opts: RuntimeOptions, f: Foundation, surfaces: Surfaces, workflow: RequestWorkflow, authorizer: Authorizer, workers: boolean, closers: CloseStack): Promise<{ stacks: StackDesk; leaseJobs?: LeaseJobs }> {
  const { logger } = opts;
  let templates = new Map<string, StackTemplate>();
  try {
    templates = await loadStackTemplates(opts.stacksDir ?? join(REPO_ROOT, 'examples', 'stacks'), f.engine.registry);
  } catch (err) {
    logger.warn({ err }, 'stack templates not loaded');
  }
  let stacks: StackDesk | undefined;
  const leaseJobs = workers ? new LeaseJobs({ connection: f.opened.redis.redis, name: `${runtimeQueueNames(opts).requests}-leases`, due: (id, gen) => stacks!.leaseDue(id, gen), logger }) : undefined;
  stacks = new StackDesk({
    engine: f.engine,
    store: f.engine.stacks!,
    forms: f.forms,
    policy: f.policy,
    templates,
    submit: (input) => workflow.submit(input),
    replan: (id, by, surface) => workflow.replan(id, by, surface),
    notifier: (s) => (s.origin.surface === 'jira' ? surfaces.jira?.surface.stackNotifier() : s.origin.surface === 'servicenow' ? surfaces.servicenow?.surface.stackNotifier() : undefined),
    ...(leaseJobs ? { scheduler: leaseJobs } : {}),
    authorizer,
    clock: f.clock,
    logger,
  });
  if (leaseJobs) {
    leaseJobs.start();
    closers.push(() => leaseJobs.close());
    await stacks.recover();
  }
  return { stacks, ...(leaseJobs ? { leaseJobs } : {}) };
}

/** Who is who and who may do what: the person resolver, the authorizer and the API token store. */
interface Trust {
  authorizer: Authorizer;
  tokens: TokenStore;
}

/** The authorizer (people resolved across every wired surface's directory) and the API token store. */
function buildTrust(config: Config, f: Foundation, surfaces: Surfaces): Trust {
  const resolver = new PersonResolver(f.people, () => surfaces.directories);
  const authorizer = new Authorizer({
    policy: f.policy,
    resolver,
    directories: () => surfaces.directories,
    audit: f.engine.inventory.audit,
    environmentOf: async (r) => {
      const env = await f.engine.inventory.find('environment', r.environment);
      return env ? { name: env.name, labels: env.labels } : undefined;
    },
  });
  const tokens = new TokenStore({ redis: f.opened.redis.redis, prefix: config.REDIS_PREFIX, audit: f.engine.inventory.audit, clock: f.clock, authorizer });
  return { authorizer, tokens };
}

/** How API calls are authenticated: API tokens, and OpenID Connect tokens when an issuer is configured. */
async function httpAuthenticator(config: Config, f: Foundation, trust: Trust): Promise<HttpAuthenticator> {
  const oidc = config.OIDC_ISSUER ? { issuer: config.OIDC_ISSUER, audience: config.OIDC_AUDIENCE!, keys: await oidcKeys(config.OIDC_JWKS_URL!) } : undefined;
  return new HttpAuthenticator({ tokens: trust.tokens, people: f.people, clock: f.clock, ...(oidc ? { oidc } : {}) });
}

/** The HTTP service: health, metrics, the v1 API and the ticket surfaces' webhooks. Returns its URL. */
async function startHttp(opts: RuntimeOptions, f: Foundation, surfaces: Surfaces, workflow: RequestWorkflow, drift: DriftDesk, trust: Trust & { freezes: FreezeDesk; stacks: StackDesk }, metrics: Metrics, closers: CloseStack): Promise<string> {
  const { config, logger } = opts;
  const redis = f.opened.redis.redis;
  const deliveries = new DeadLetters({ redis, names: runtimeQueueNames(opts), keyPrefix: config.REDIS_PREFIX, intake: f.queues.intake });
  const notices = new NoticeDeadLetters({ redis, names: runtimeQueueNames(opts), keyPrefix: config.REDIS_PREFIX, outbox: f.queues.outbox });
  const door = new WebhookDoor({ adapters: surfaces.adapters, queues: f.queues, logger, metrics });
  const app = createHttpApp({
    engine: f.engine,
    workflow,
    drift,
    redis,
    logger,
    metrics,
    deliveries,
    notices,
    auth: await httpAuthenticator(config, f, trust),
    authorizer: trust.authorizer,
    freezes: trust.freezes,
    stacks: trust.stacks,
    ...(config.METRICS_TOKEN ? { metricsToken: config.METRICS_TOKEN } : {}),
    mount: (a) => a.use(door.router()),
  });
  const t = opts.httpTimeouts ?? HTTP_TIMEOUTS;
  // Node checks the header and request timeouts on this interval (default 30 s): check often enough that they hold.
  const connectionsCheckingInterval = Math.max(50, Math.min(1000, Math.floor(t.headersMs / 4)));
  const server: Server = createServer({ headersTimeout: t.headersMs, requestTimeout: t.requestMs, keepAliveTimeout: t.keepAliveMs, connectionsCheckingInterval }, door.ahead(app));
  await new Promise<void>((res, rej) => server.once('error', rej).listen(config.PORT, config.HOST, () => res()));
  closers.push(() => new Promise<void>((res) => server.close(() => res())));
  return `http://${config.HOST}:${(server.address() as AddressInfo).port}`;
}

/**
 * Builds and starts the service, in this order: the engine; policy, change windows, forms, the
 * deployment runner and the queues; the ticket surfaces (Jira, ServiceNow); the request
 * workflow; the queue workers (when asked); HTTP (when asked). `close()` stops them in reverse:
 * HTTP, the dropdown watchers, the workers, the stale sweep, the queues, then the engine.
 */
export async function startRuntime(opts: RuntimeOptions): Promise<Runtime> {
  const { config, logger } = opts;
  const clock = opts.clock ?? systemClock;
  const opened = await openEngine(config, { clock });
  for (const issue of opened.bundleIssues) logger.warn({ file: issue.file, pointer: issue.pointer, problem: issue.message }, 'bundle skipped');
  const closers = new CloseStack();
  try {
    const policy = await loadPolicyFile(config);
    // ServiceNow's blackout schedules are a window source, so its client exists before the windows.
    const sn = await connectServiceNow(config, logger);
    const f = await buildFoundation(opts, opened, clock, policy, sn, closers);
    let workflowRef: RequestWorkflow | undefined;
    let driftRef: DriftDesk | undefined;
    let freezesRef: FreezeDesk | undefined;
    let stacksRef: StackDesk | undefined;
    const surfaces = await wireSurfaces(opts, f, sn, () => workflowRef!, () => driftRef, () => freezesRef, () => stacksRef);
    const { engine, runner, forms, windows, queues } = f;
    const trust = buildTrust(config, f, surfaces);
    const freezeStore = engine.freezes!;
    const workflow = new RequestWorkflow({ engine, runner, forms, policy, windows, directories: surfaces.directories, clock, logger, authorizer: trust.authorizer, freezes: freezeStore, ...(opts.faults ? { faults: opts.faults } : {}) });
    workflowRef = workflow;
    const drift = createDriftDesk(config, f, policy, workflow, trust.authorizer, clock, logger);
    driftRef = drift;
    const freezes = new FreezeDesk({ store: freezeStore, requests: engine.requests, inventory: engine.inventory, authorizer: trust.authorizer, clock, freezes: freezeStore });
    freezesRef = freezes;
    const metrics = new Metrics();
    const jobs = { requestsWithJobs: () => requestsWithJobs(queues.requests) };
    const recovery = new RequestRecovery({ workflow, requests: engine.requests, outbox: engine.inventory.outbox, jobs, clock, logger, metrics, held: (r) => freezes.holds(r) });
    const workers = opts.workers ?? config.RUN_WORKERS;
    const { stacks, leaseJobs } = await buildStacks(opts, f, surfaces, workflow, trust.authorizer, workers, closers);
    stacksRef = stacks;
    if (workers) await startWorkers(opts, f, surfaces, workflow, recovery, metrics, closers, stacks);
    const driftSchedule = workers ? await startDriftSchedule(opts, f, drift, closers) : undefined;
    const url = (opts.http ?? true) ? await startHttp(opts, f, surfaces, workflow, drift, { ...trust, freezes, stacks }, metrics, closers) : undefined;
    return {
      config,
      opened,
      policy,
      forms,
      runner,
      workflow,
      drift,
      ...(driftSchedule ? { driftSchedule } : {}),
      stacks,
      ...(leaseJobs ? { leaseJobs } : {}),
      recovery,
      queues,
      adapters: surfaces.adapters,
      ...(surfaces.jira ? { jira: surfaces.jira.surface } : {}),
      ...(surfaces.servicenow ? { servicenow: surfaces.servicenow.surface, servicenowSync: surfaces.servicenow.sync } : {}),
      ids: f.ids,
      metrics,
      people: f.people,
      authorizer: trust.authorizer,
      tokens: trust.tokens,
      freezes,
      ...(url ? { url } : {}),
      close: async () => {
        await closers.close();
        await opened.close();
      },
    };
  } catch (err) {
    await closers.abandon();
    await opened.close();
    throw err;
  }
}
