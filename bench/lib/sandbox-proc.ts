/**
 * The contract-checked Jira sandbox in its own process, for the ticket-to-plan bench's layouts:
 * `node --import tsx bench/lib/sandbox-proc.ts --service-url URL`. Its webhooks go straight to
 * the service. It prints one line `ready <json>` (its URL and the service's Jira environment),
 * and answers the bench on its own port under `/bench/`:
 *
 * - `POST /bench/file {count, fields, tag}`: files `count` no-op tickets at once as the developer
 *   (fields by id, `noop/label` and `request/package` made unique); answers their keys;
 * - `GET /bench/times`: per filed key, when it was created and when the service's first comment
 *   write showing the plan was answered (epoch ms, both on this process's clock);
 * - `GET /bench/report`: contract violations and API calls so far.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { adfToText, exampleSeed, PEOPLE, startJiraSandbox } from '../../sandbox/jira/index.ts';

const SECRET = 'bench-webhook-secret-0123456789';
const PLAN = /AWAITING APPROVAL/;
const { values } = parseArgs({ options: { 'service-url': { type: 'string' } } });
const serviceUrl = String(values['service-url']).replace(/\/+$/, '');

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function main(): Promise<void> {
  const sb = await startJiraSandbox({ contract: true, seed: exampleSeed(), webhookSecret: SECRET });
  sb.registerWebhook({ url: `${serviceUrl}/webhooks/jira`, secret: SECRET, events: ['jira:issue_created', 'jira:issue_updated', 'comment_created'] });
  const created = new Map<string, number>();
  const planned = new Map<string, number>();
  const keyById = new Map<string, string>();
  let seen = 0;
  /** Reads the call log from where it stopped: the first comment write of each issue showing the plan. */
  const update = () => {
    for (; seen < sb.calls.length; seen++) {
      const c = sb.calls[seen]!;
      if ((c.method !== 'POST' && c.method !== 'PUT') || c.status >= 300) continue;
      const m = /^\/rest\/api\/3\/issue\/([^/]+)\/comment(?:\/[^/]+)?$/.exec(c.path);
      if (!m) continue;
      const key = keyById.get(m[1]!) ?? m[1]!;
      const body = (c.body as { body?: unknown } | undefined)?.body;
      if (!planned.has(key) && body && PLAN.test(adfToText(body as never))) planned.set(key, c.at.getTime());
    }
  };
  const file = (b: { count: number; fields: Record<string, unknown>; tag: string; labelField: string; packageField: string }): string[] => {
    const keys: string[] = [];
    for (let i = 0; i < b.count; i++) {
      const label = `${b.tag}-${i}`;
      const fields = { ...b.fields, [b.labelField]: label, [b.packageField]: `bench-${label}` };
      const at = Date.now();
      const issue = sb.as(PEOPLE.developer).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: `No-op ${label}`, fields });
      created.set(issue.key, at);
      keyById.set(issue.id, issue.key);
      keys.push(issue.key);
    }
    return keys;
  };
  const server = createServer((req, res) => {
    void (async () => {
      if (req.url === '/bench/file' && req.method === 'POST') return json(res, 201, { keys: file(JSON.parse((await readBody(req)).toString('utf8'))) });
      if (req.url === '/bench/times') {
        update();
        return json(res, 200, Object.fromEntries([...created].map(([k, at]) => [k, { created: at, planned: planned.get(k) ?? null }])));
      }
      if (req.url === '/bench/report') return json(res, 200, { violations: sb.violations().length, calls: sb.calls.length });
      json(res, 404, {});
    })().catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { error: (err as Error).message });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const control = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const env = { JIRA_BASE_URL: sb.url, JIRA_EMAIL: sb.credentials.email, JIRA_API_TOKEN: sb.credentials.apiToken, JIRA_WEBHOOK_SECRET: SECRET, JIRA_CONFIG_FILE: 'examples/jira-config.yaml' };
  process.stdout.write(`ready ${JSON.stringify({ control, env })}\n`);
  process.on('SIGTERM', () => void sb.stop().finally(() => process.exit(0)));
}

await main();
