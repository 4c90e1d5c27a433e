/**
 * Steps of the product manager's promotion story (TICKET-UX.md, "A product manager promotes a
 * version"), shared by the end-to-end tests and usable by the demo: a clock a test can move to a
 * change window's opening, a window source whose blackouts change while requests wait, the
 * production stack a promotion starts from, and the promotion ticket itself.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { z } from 'zod';
import type { AuditContext } from '../engine/audit.ts';
import { createLogger } from '../engine/logger.ts';
import type { Clock, Package } from '../engine/model.ts';
import type { Blackout, EnvironmentRef, ExtraWindows, WindowSource } from '../policy/index.ts';
import { JiraClient } from '../surfaces/jira/client.ts';
import type { StoryWorld } from './story.ts';

const run = promisify(execFile);

/**
 * A clock that runs at real speed from a point a test chooses and may move again: "Monday noon"
 * while a request is planned and approved, "Tuesday 10:00:02" when its delayed job should find
 * the window open.
 */
export class MovableClock implements Clock {
  private offset: number;

  constructor(start: Date) {
    this.offset = start.getTime() - Date.now();
  }

  /** {@inheritDoc Clock.now} */
  now(): Date {
    return new Date(Date.now() + this.offset);
  }

  /** From now on the clock reads `at` and runs on from there. */
  set(at: Date): void {
    this.offset = at.getTime() - Date.now();
  }
}

/**
 * Blackouts kept in memory that a test adds and removes while requests wait for their window
 * (the stand-in for a ServiceNow blackout schedule or a team calendar). Applies to every
 * environment whose name is in `environments` (all when omitted).
 */
export class MutableWindowSource implements WindowSource {
  private readonly blackouts: (Blackout & { environments?: string[] })[] = [];

  constructor(readonly name = 'release-calendar') {}

  /** Adds a blackout `[start, end)` with the reason people will read in the ticket. */
  addBlackout(b: { reason: string; start: Date; end: Date; environments?: string[] }): void {
    this.blackouts.push({ ...b, source: this.name });
  }

  /** Removes every blackout. */
  clear(): void {
    this.blackouts.length = 0;
  }

  /** {@inheritDoc WindowSource.load} */
  async load(environment: EnvironmentRef, from: Date, to: Date): Promise<ExtraWindows> {
    const blackouts = this.blackouts
      .filter((b) => !b.environments || b.environments.includes(environment.name))
      .filter((b) => b.end > from && b.start < to)
      .map(({ environments: _e, ...b }) => b);
    return { blackouts };
  }
}

/** What {@link setupCheckoutStack} created. */
export interface CheckoutStack {
  database: Package;
  api: Package;
}

/** Where the checkout stack of one environment lives. */
export interface CheckoutStackInput {
  project: string;
  /** Environment name inside the project (`production`). */
  environment: string;
  /** PostgreSQL database the release record is written to. */
  databaseName: string;
  username: string;
  /** Package names (default `orders-db` and `checkout-api`). */
  databasePackage?: string;
  apiPackage?: string;
  /** checkout-api version running before the promotion (default 2.13.2). */
  version?: string;
  apiParams?: Record<string, unknown>;
}

/**
 * Ops' starting point of a promotion: a postgres-database package and a checkout-api package
 * connected to its `authentication` artifact, both created through the engine and applied for
 * real by the deployment runner (so the release record sits in PostgreSQL).
 */
export async function setupCheckoutStack(world: StoryWorld, input: CheckoutStackInput, ctx: AuditContext): Promise<CheckoutStack> {
  const { engine } = world.runtime.opened;
  const runner = world.runtime.runner;
  const db = await engine.createPackage(
    {
      project: input.project,
      environment: input.environment,
      name: input.databasePackage ?? 'orders-db',
      bundle: 'postgres-database',
      params: {
        database_name: input.databaseName,
        username: input.username,
        expected_size_gib: 50,
        production_critical: true,
        owner_team: 'checkout',
      },
    },
    ctx,
  );
  const dbOut = await runner.apply(db.id);
  if (dbOut.error) throw new Error(`setup: applying ${db.id} failed: ${dbOut.error.message}`);
  const api = await engine.createPackage(
    {
      project: input.project,
      environment: input.environment,
      name: input.apiPackage ?? 'checkout-api',
      bundle: 'checkout-api',
      version: input.version ?? '2.13.2',
      params: input.apiParams ?? { replicas: 4, log_level: 'warn' },
      connections: { database: { package: db.id, artifact: 'authentication' } },
    },
    ctx,
  );
  const apiOut = await runner.apply(api.id);
  if (apiOut.error) throw new Error(`setup: applying ${api.id} failed: ${apiOut.error.message}`);
  return { database: await engine.getPackage(db.id), api: await engine.getPackage(api.id) };
}

/** One option of a Jira select field, as the sandbox (or Jira) holds it. */
export interface JiraOption {
  value: string;
  disabled?: boolean;
}

/** The options a person sees in the Jira field synced for form key `key` (for example `checkout-api/request_version`). */
export async function jiraFieldOptions(world: StoryWorld, key: string): Promise<JiraOption[]> {
  const ids = await world.runtime.ids.all('jira');
  const fieldId = ids[key];
  const contextId = fieldId ? ids[`context/${fieldId}`] : undefined;
  if (!fieldId || !contextId) throw new Error(`field ${key} was not synced`);
  const client = new JiraClient({ baseUrl: world.sandbox.url, email: world.sandbox.credentials.email, apiToken: world.sandbox.credentials.apiToken, logger: createLogger('silent') });
  const res = await client.api(
    'GET',
    `/rest/api/3/field/${fieldId}/context/${contextId}/option`,
    z.object({ values: z.array(z.object({ value: z.string(), disabled: z.boolean().optional() }).passthrough()) }).passthrough(),
  );
  return res.values.map((v) => ({ value: v.value, ...(v.disabled !== undefined ? { disabled: v.disabled } : {}) }));
}

/** What a product manager puts on a promotion ticket. */
export interface PromotionAnswers {
  /** Version to promote to; the option whose text starts with it is chosen. */
  version: string;
  environment: string;
  /** Name of the existing package inside the environment. */
  package: string;
  project?: string;
}

/**
 * Files a promotion of checkout-api as `accountId` through the sandbox's UI path, choosing the
 * Version option the dropdown offers for `answers.version` (as a person picks it from the list);
 * returns the issue key. Throws when the dropdown offers no such option.
 */
export async function filePromotionRequest(world: StoryWorld, accountId: string, answers: PromotionAnswers): Promise<string> {
  const ids = await world.runtime.ids.all('jira');
  const f = (key: string): string => {
    const id = ids[key];
    if (!id) throw new Error(`field ${key} was not synced`);
    return id;
  };
  const option = (await jiraFieldOptions(world, 'checkout-api/request_version')).find((o) => !o.disabled && (o.value === answers.version || o.value.startsWith(`${answers.version} `)));
  if (!option) throw new Error(`the Version dropdown offers no ${answers.version}`);
  const issue = world.sandbox.as(accountId).createIssue({
    project: answers.project ?? 'INFRA',
    issueType: 'Infrastructure request',
    summary: `Promote checkout-api to ${answers.version} in ${answers.environment}`,
    fields: {
      [f('request/bundle')]: { value: 'checkout-api' },
      [f('request/environment')]: { value: answers.environment },
      [f('request/package')]: answers.package,
      [f('checkout-api/request_version')]: { value: option.value },
    },
  });
  return issue.key;
}

/** The release record checkout-api wrote into `database` (`app_releases`), or undefined when none. */
export async function releaseRecord(world: StoryWorld, database: string): Promise<{ version: string; image: string; replicas: number } | undefined> {
  const env = { ...process.env, ...world.pg.superuserEnv(), PGDATABASE: database };
  const sql = "select coalesce((select json_build_object('version', version, 'image', image, 'replicas', replicas) from app_releases where app = 'checkout-api')::text, '')";
  const { stdout } = await run('psql', ['-X', '-A', '-t', '-c', sql], { env });
  const text = stdout.trim();
  return text ? (JSON.parse(text) as { version: string; image: string; replicas: number }) : undefined;
}
