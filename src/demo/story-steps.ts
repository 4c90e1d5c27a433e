import { createLogger } from '../engine/logger.ts';
import { EngineOptionSources } from '../workflow/form-options.ts';
import { JiraClient } from '../surfaces/jira/client.ts';
import { JiraFormsSync, type JiraSyncReport } from '../surfaces/jira/forms-sync.ts';
import { loadJiraConfig } from '../surfaces/jira/config.ts';
import { adfToText, type JiraSandbox } from '../../sandbox/jira/index.ts';
import type { StoryWorld } from './story.ts';

/** Runs `forms sync --surface jira` against the world's sandbox. */
export async function syncStoryForms(world: StoryWorld): Promise<JiraSyncReport> {
  const { runtime, sandbox } = world;
  const sync = new JiraFormsSync({
    client: new JiraClient({ baseUrl: sandbox.url, email: sandbox.credentials.email, apiToken: sandbox.credentials.apiToken, logger: createLogger('silent') }),
    ids: runtime.ids,
    forms: runtime.forms,
    config: await loadJiraConfig('examples/jira-config.yaml'),
    options: new EngineOptionSources(runtime.opened.engine),
    logger: createLogger('silent'),
  });
  return sync.sync();
}

/** One comment as a person reads it. */
export interface ConversationLine {
  id: string;
  author: string;
  text: string;
  /** The request's status comment (edited in place). */
  status: boolean;
  updated: Date;
}

type Node = { type?: string; text?: string; content?: Node[]; attrs?: Record<string, unknown> };

function inline(n: Node): string {
  if (n.type === 'text') return n.text ?? '';
  if (n.type === 'status') return String(n.attrs?.text ?? '');
  if (n.type === 'hardBreak') return '\n';
  return (n.content ?? []).map(inline).join('');
}

/** ADF as a person reads it in a terminal: paragraphs, bullet lists, tables as aligned columns. */
export function adfPlain(doc: unknown): string {
  const out: string[] = [];
  const walk = (n: Node, prefix = ''): void => {
    switch (n.type) {
      case 'table': {
        const rows = (n.content ?? []).map((r) => (r.content ?? []).map((cell) => inline(cell).trim()));
        const widths = rows.reduce<number[]>((w, r) => r.map((c, i) => Math.max(w[i] ?? 0, c.length)), []);
        for (const r of rows) out.push(`${prefix}| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`);
        return;
      }
      case 'bulletList':
        for (const item of n.content ?? []) out.push(`${prefix}• ${inline(item).trim()}`);
        return;
      case 'panel':
        for (const c of n.content ?? []) walk(c, prefix);
        return;
      case 'paragraph':
      case 'heading':
        out.push(prefix + inline(n));
        return;
      default:
        for (const c of n.content ?? []) walk(c, prefix);
    }
  };
  walk(doc as Node);
  return out.join('\n');
}

/** The comments of an issue, oldest first, as plain text. */
export function conversation(sb: JiraSandbox, key: string): ConversationLine[] {
  const issue = sb.state.issue(key);
  return issue.comments.map((c) => {
    const text = adfPlain(c.body) || adfToText(c.body);
    return { id: c.id, author: c.authorId, text, status: /ts:status:/.test(text), updated: c.updated };
  });
}

export { waitFor } from './wait.ts';

/** What a developer types into the database request form. `null` leaves a question empty. */
export interface DatabaseAnswers {
  package: string;
  database: string;
  username: string;
  size: number;
  environment?: string;
  critical?: boolean;
  ownerTeam?: string | null;
  /** Jira project (default INFRA; OPS is the JSM service desk). */
  project?: string;
}

/** Files a database request in INFRA as `accountId`, through the sandbox's UI path; returns the issue key. */
export async function fileDatabaseRequest(world: StoryWorld, accountId: string, a: DatabaseAnswers): Promise<string> {
  const ids = await world.runtime.ids.all('jira');
  const f = (key: string): string => {
    const id = ids[key];
    if (!id) throw new Error(`field ${key} was not synced`);
    return id;
  };
  const fields: Record<string, unknown> = {
    [f('request/bundle')]: { value: 'postgres-database' },
    [f('request/environment')]: { value: a.environment ?? 'staging' },
    [f('request/package')]: a.package,
    [f('postgres-database/database_name')]: a.database,
    [f('postgres-database/username')]: a.username,
    [f('postgres-database/expected_size_gib')]: a.size,
    [f('postgres-database/production_critical')]: { value: a.critical ? 'Yes' : 'No' },
  };
  if (a.ownerTeam !== null) fields[f('postgres-database/owner_team')] = a.ownerTeam ?? 'checkout';
  const issue = world.sandbox.as(accountId).createIssue({ project: a.project ?? 'INFRA', issueType: 'Infrastructure request', summary: `Database ${a.package}`, fields });
  return issue.key;
}
