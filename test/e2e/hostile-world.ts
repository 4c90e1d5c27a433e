/**
 * The world the hostile-input campaign runs against: a private Redis, the Jira and ServiceNow
 * sandboxes, and one service (API, both webhooks, workers) whose every log line (level debug)
 * is captured; the `secret-probe` bundle and a `dev` environment where anyone may provision
 * without approval; API tokens (made through the TokenStore, as an admin would), good and bad.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import axios, { type AxiosInstance } from 'axios';
import { configSecrets, loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { startRedisServer, type EmbeddedRedis } from '../../src/engine/redis-server.ts';
import { startRuntime, type Runtime } from '../../src/runtime.ts';
import { EngineOptionSources } from '../../src/workflow/form-options.ts';
import { JiraClient } from '../../src/surfaces/jira/client.ts';
import { JiraFormsSync } from '../../src/surfaces/jira/forms-sync.ts';
import { loadJiraConfig } from '../../src/surfaces/jira/config.ts';
import { startJiraSandbox, exampleSeed, type JiraSandbox } from '../../sandbox/jira/index.ts';
import { startServiceNowSandbox, type ServiceNowSandbox } from '../../sandbox/servicenow/servicenow-sandbox.ts';
import { exampleSeed as serviceNowSeed } from '../../sandbox/servicenow/example-seed.ts';
import { writeProbeFixtures } from '../helpers/secrets.ts';
import { ADMIN_CLI_USER, tokenFor } from '../helpers/api-tokens.ts';

/** A credential the API must refuse: the headers that carry it and what the refusal must say. */
export interface RefusedCredential {
  headers: Record<string, string>;
  /** The status every route answers it with (401: not authenticated; 403: known, but without the right). */
  status: 401 | 403;
  message: RegExp;
  /** True when only the routes that change something refuse it (a reader's token reads). */
  writesOnly?: boolean;
}

/** The API credentials of the campaign: the good one (an admin's API token), and the bad ones. */
export interface ApiCredentials {
  /** Headers of a good call: the directory's platform admin's token. */
  good: Record<string, string>;
  /** Missing, malformed, unknown, tampered, revoked, expired credentials, and a reader's token. */
  refused: Record<string, RefusedCredential>;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/**
 * Makes the campaign's tokens through the runtime's TokenStore. The expired one is made while
 * the service's clock reads two hours ago (it expired an hour ago); `setClockOffset` moves it.
 */
async function makeCredentials(runtime: Runtime, setClockOffset: (ms: number) => void): Promise<ApiCredentials> {
  const admin = await tokenFor(runtime, 'quinn', 'admin');
  const reader = await tokenFor(runtime, 'erin', 'reader');
  const revoked = await runtime.tokens.create({ person: 'dana', role: 'requester', label: 'revoked' }, runtime.authorizer.cliPrincipal(ADMIN_CLI_USER));
  await runtime.tokens.revoke(revoked.record.id, runtime.authorizer.cliPrincipal(ADMIN_CLI_USER), 'hostile-input campaign');
  setClockOffset(-2 * 3_600_000);
  const expired = await runtime.tokens.create({ person: 'dana', role: 'requester', label: 'expired', expiresAt: new Date(Date.now() - 3_600_000) }, runtime.authorizer.cliPrincipal(ADMIN_CLI_USER));
  setClockOffset(0);
  const tampered = admin.slice(0, -1) + (admin.endsWith('A') ? 'B' : 'A');
  const unauthenticated = (headers: Record<string, string>, message: RegExp): RefusedCredential => ({ headers, status: 401, message });
  return {
    good: bearer(admin),
    refused: {
      missing: unauthenticated({}, /missing credential/),
      xActorOnly: unauthenticated({ 'x-actor': 'quinn' }, /missing credential/),
      emptyBearer: unauthenticated({ authorization: 'Bearer ' }, /must read: Bearer/),
      basic: unauthenticated({ authorization: 'Basic cXVpbm46cXVpbm4=' }, /must read: Bearer/),
      twoWords: unauthenticated({ authorization: `Bearer ${admin} ${admin}` }, /must read: Bearer/),
      notAToken: unauthenticated(bearer(';rm${IFS}-rf${IFS}/'), /unknown token/),
      unknownToken: unauthenticated(bearer(`tsk_tk0123456789_${'A'.repeat(43)}`), /unknown API token/),
      tampered: unauthenticated(bearer(tampered), /unknown API token/),
      longToken: unauthenticated(bearer(`tsk_${'a'.repeat(6000)}`), /unknown API token/),
      revoked: unauthenticated(bearer(revoked.token), new RegExp(`API token ${revoked.record.id} was revoked`)),
      expired: unauthenticated(bearer(expired.token), new RegExp(`API token ${expired.record.id} expired at`)),
      jwt: unauthenticated(bearer('eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJxdWlubiJ9.c2ln'), /OpenID Connect tokens are not accepted here/),
      readerWrites: { headers: bearer(reader), status: 403, message: /needs the (admin|requester|approver) role/, writesOnly: true },
    },
  };
}

/** Everything the campaign talks to and looks into. */
export interface HostileWorld {
  redis: EmbeddedRedis;
  jira: JiraSandbox;
  servicenow: ServiceNowSandbox;
  runtime: Runtime;
  /** The service's base URL. */
  url: string;
  /** An API client that never throws on a status and sends the good credential. */
  api: AxiosInstance;
  credentials: ApiCredentials;
  /** Every log line the service wrote (pino JSON, level debug). */
  logs: string[];
  jiraSecret: string;
  servicenowSecret: string;
  /** Where the probe bundle's step copies the params and connections files it gets. */
  probeOut: string;
  /** A temporary folder of the test's own (marker files of the shell metacharacter inputs go here). */
  scratch: string;
  close(): Promise<void>;
}

/** Sandboxes, then the service with both surfaces and a captured debug log, then the webhooks and forms. */
export async function startHostileWorld(): Promise<HostileWorld> {
  const root = await mkdtemp(join(tmpdir(), 'hostile-'));
  const probeOut = join(root, 'probe-out');
  const scratch = join(root, 'scratch');
  await mkdir(probeOut);
  await mkdir(scratch);
  const { bundlePath, policyFile } = await writeProbeFixtures(root);
  const redis = await startRedisServer();
  process.env.TS_TARGET_REDIS_URL = redis.url;
  process.env.TS_TARGET_PROBE_OUT = probeOut;
  const jiraSecret = 'hostile-jira-secret-0123456789';
  const servicenowSecret = 'hostile-servicenow-secret-0123456789';
  const jira = await startJiraSandbox({ contract: true, seed: exampleSeed(), webhookSecret: jiraSecret, webhookRetryDelaysMs: [50, 100] });
  const { catalogItems: _handMade, ...snSeed } = serviceNowSeed();
  const servicenow = await startServiceNowSandbox({ contract: true, seed: snSeed, webhookRetryDelaysMs: [50, 100] });
  const config = loadConfig({
    REDIS_URL: redis.url,
    DATA_DIR: join(root, 'data'),
    PORT: '0',
    BUNDLE_PATH: bundlePath,
    POLICY_FILE: policyFile,
    JIRA_BASE_URL: jira.url,
    JIRA_EMAIL: jira.credentials.email,
    JIRA_API_TOKEN: jira.credentials.apiToken,
    JIRA_WEBHOOK_SECRET: jiraSecret,
    SERVICENOW_INSTANCE_URL: servicenow.url,
    SERVICENOW_USER: servicenow.credentials.username,
    SERVICENOW_PASSWORD: servicenow.credentials.password,
    SERVICENOW_WEBHOOK_SECRET: servicenowSecret,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const logger = createLogger('debug', sink, { secrets: configSecrets(config) });
  let clockOffsetMs = 0;
  const clock = { now: () => new Date(Date.now() + clockOffsetMs) };
  const runtime = await startRuntime({ config, logger, http: true, workers: true, dynamicOptionsPollMs: 500, clock });
  const credentials = await makeCredentials(runtime, (ms) => (clockOffsetMs = ms));
  const url = runtime.url!;
  jira.registerWebhook({ url: `${url}/webhooks/jira`, secret: jiraSecret, events: ['jira:issue_created', 'jira:issue_updated', 'comment_created'] });
  servicenow.setWebhook({ url: `${url}/webhooks/servicenow`, secret: servicenowSecret });
  const api = axios.create({ baseURL: url, validateStatus: () => true, headers: credentials.good, maxContentLength: Infinity, maxBodyLength: Infinity });
  return {
    redis,
    jira,
    servicenow,
    runtime,
    url,
    api,
    credentials,
    logs,
    jiraSecret,
    servicenowSecret,
    probeOut,
    scratch,
    close: async () => {
      servicenow.setWebhook(undefined);
      await servicenow.webhooksIdle();
      await runtime.close();
      await jira.stop();
      await servicenow.stop();
      await redis.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** `forms sync` on both surfaces (the Jira fields and the ServiceNow catalog items of every bundle). */
export async function syncForms(world: HostileWorld): Promise<void> {
  const { runtime, jira } = world;
  const silent = createLogger('silent');
  await new JiraFormsSync({
    client: new JiraClient({ baseUrl: jira.url, email: jira.credentials.email, apiToken: jira.credentials.apiToken, logger: silent }),
    ids: runtime.ids,
    forms: runtime.forms,
    config: await loadJiraConfig('examples/jira-config.yaml'),
    options: new EngineOptionSources(runtime.opened.engine),
    logger: silent,
  }).sync();
  await runtime.servicenowSync!.sync();
}
