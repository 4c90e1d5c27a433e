/**
 * A Jira or ServiceNow sandbox served for a developer's own service (`npm run sandbox`): started
 * on a port, seeded with its example site, its webhooks pointed at the service, and the settings
 * the service needs to talk to it.
 */
import { startJiraSandbox, exampleSeed as jiraSeed, PEOPLE as JIRA_PEOPLE } from './jira/index.ts';
import { startServiceNowSandbox } from './servicenow/servicenow-sandbox.ts';
import { exampleSeed as serviceNowSeed, PEOPLE as SERVICENOW_PEOPLE } from './servicenow/example-seed.ts';

/** The two ticket surfaces a sandbox stands in for. */
export type SandboxSurface = 'jira' | 'servicenow';

/** Where each sandbox listens unless told otherwise. */
export const DEFAULT_PORTS: Readonly<Record<SandboxSurface, number>> = { jira: 8081, servicenow: 8082 };

/** Where the service listens by default (`npm start`: HOST 127.0.0.1, PORT 8080). */
export const DEFAULT_SERVICE_URL = 'http://127.0.0.1:8080';

/** What {@link serveSandbox} starts. */
export interface ServeOptions {
  surface: SandboxSurface;
  /** 0 picks a free port. */
  port: number;
  /** The service's base URL; webhooks go to `<serviceUrl>/webhooks/<surface>`. */
  serviceUrl: string;
}

/** A running sandbox and how to point the service at it. */
export interface ServedSandbox {
  surface: SandboxSurface;
  /** Listening URL. */
  url: string;
  /** Where the sandbox delivers its signed webhooks. */
  webhookUrl: string;
  /** The environment the service (and the CLI) needs, values as the sandbox accepts them. */
  env: Record<string, string>;
  /** A command that files a ticket as the seeded developer, for a first round trip. */
  tryIt: string;
  stop(): Promise<void>;
}

/** Shared secret of the sandbox's webhooks (the service checks it; at least 16 characters). */
const WEBHOOK_SECRET = 'sandbox-webhook-secret-0123456789';

/** `curl` posting `body` to the sandbox's control endpoint that acts as a person. */
function actCommand(url: string, body: Record<string, unknown>): string {
  return `curl -s -X POST ${url}/_sandbox/act -H 'content-type: application/json' -d '${JSON.stringify(body)}'`;
}

async function serveJira(port: number, serviceUrl: string): Promise<ServedSandbox> {
  const sandbox = await startJiraSandbox({ port, contract: true, seed: jiraSeed(), webhookSecret: WEBHOOK_SECRET });
  const webhookUrl = `${serviceUrl}/webhooks/jira`;
  // The events a Jira admin subscribes the service's webhook to (see README, "Pointing it at a real Jira Cloud site").
  sandbox.registerWebhook({ url: webhookUrl, events: ['jira:issue_created', 'jira:issue_updated', 'comment_created'] });
  return {
    surface: 'jira',
    url: sandbox.url,
    webhookUrl,
    env: {
      JIRA_BASE_URL: sandbox.url,
      JIRA_EMAIL: sandbox.credentials.email,
      JIRA_API_TOKEN: sandbox.credentials.apiToken,
      JIRA_WEBHOOK_SECRET: WEBHOOK_SECRET,
      JIRA_CONFIG_FILE: 'examples/jira-config.yaml',
    },
    tryIt: actCommand(sandbox.url, { as: JIRA_PEOPLE.developer, action: 'create', project: 'INFRA', issueType: 'Infrastructure question', summary: 'most-expensive' }),
    stop: () => sandbox.stop(),
  };
}

async function serveServiceNow(port: number, serviceUrl: string): Promise<ServedSandbox> {
  // The hand-made catalog item is left out: `forms sync` makes the items, as on a real instance.
  const { catalogItems: _handMade, ...seed } = serviceNowSeed();
  const webhookUrl = `${serviceUrl}/webhooks/servicenow`;
  // The Business Rule's system properties: where to post and the shared secret.
  const sandbox = await startServiceNowSandbox({ port, contract: true, seed, webhook: { url: webhookUrl, secret: WEBHOOK_SECRET } });
  // The records an administrator installs for the webhook, so `doctor --surface servicenow` finds them.
  sandbox.installWebhook({ url: webhookUrl });
  return {
    surface: 'servicenow',
    url: sandbox.url,
    webhookUrl,
    env: {
      SERVICENOW_INSTANCE_URL: sandbox.url,
      SERVICENOW_USER: sandbox.credentials.username,
      SERVICENOW_PASSWORD: sandbox.credentials.password,
      SERVICENOW_WEBHOOK_SECRET: WEBHOOK_SECRET,
      SERVICENOW_CONFIG_FILE: 'examples/servicenow-config.yaml',
    },
    tryIt: actCommand(sandbox.url, { as: SERVICENOW_PEOPLE.developer, action: 'order', item: 'Infrastructure question', variables: { query: 'most-expensive' } }),
    stop: async () => {
      sandbox.setWebhook(undefined);
      await sandbox.stop();
    },
  };
}

/** Starts the sandbox of `options.surface`. */
export function serveSandbox(options: ServeOptions): Promise<ServedSandbox> {
  const serviceUrl = options.serviceUrl.replace(/\/+$/, '');
  return options.surface === 'jira' ? serveJira(options.port, serviceUrl) : serveServiceNow(options.port, serviceUrl);
}

/** What to do next, printed when the sandbox is up: the exports, the commands, where webhooks go. */
export function instructions(served: ServedSandbox, serviceUrl: string): string {
  const name = served.surface === 'jira' ? 'Jira' : 'ServiceNow';
  const secretVar = served.surface === 'jira' ? 'JIRA_WEBHOOK_SECRET' : 'SERVICENOW_WEBHOOK_SECRET';
  const header = served.surface === 'jira' ? 'X-Hub-Signature' : 'X-ServiceNow-Signature';
  const port = new URL(serviceUrl).port;
  const portLine = port && port !== '8080' ? [`  export PORT=${port}`] : [];
  return [
    `${name} sandbox (the example site, contract-checked) listening on ${served.url}`,
    '',
    'In a second terminal, point the service at it, create the forms in the sandbox and start the service:',
    '',
    ...Object.entries(served.env).map(([k, v]) => `  export ${k}=${v}`),
    ...portLine,
    `  npx ticket-surface forms sync --surface ${served.surface}`,
    '  npm start',
    '',
    `The sandbox delivers signed webhooks (${header}, keyed with ${secretVar}) to`,
    `${served.webhookUrl} (set the service's URL with --service-url).`,
    '',
    'Then file a ticket as the developer and watch the service answer on it:',
    '',
    `  ${served.tryIt}`,
    '',
    'Ctrl-C stops the sandbox (its state lives in memory).',
  ].join('\n');
}
