/**
 * `ticket-surface doctor --surface jira`: reads a live Jira site's set-up and compares it with
 * what the service needs, without writing anything. It checks, in order: the credentials log in
 * (and the site's clock agrees with ours); the account holds the project permissions the service
 * uses and the global *Browse users and groups*; each configured issue type and status exists in
 * its project; the project's workflow has a transition into every status the service moves
 * issues to; an admin webhook points at the service's `/webhooks/jira` with the events and a JQL
 * filter covering the configured projects; and the forms sync's Bundle field is on the screens it
 * owns. Each problem says how to fix it.
 */
import { z } from 'zod';
import { ConfigError } from '../../engine/errors.ts';
import { checkClockSkew, DoctorReportBuilder, type DoctorReport } from '../shared/doctor.ts';
import { JiraApiError, JiraAuthError, type JiraClient } from './client.ts';
import type { JiraProjectConfig, JiraSurfaceConfig } from './config.ts';
import { JiraScreenFinder, screenedProject, type ScreenedProject } from './screens.ts';

/** The project permissions the service uses, and why. */
const PROJECT_PERMISSIONS: Readonly<Record<string, string>> = {
  BROWSE_PROJECTS: 'read the requests',
  EDIT_ISSUES: 'write the request property and fields',
  TRANSITION_ISSUES: 'move issues through the workflow',
  ADD_COMMENTS: 'post the status comment',
  EDIT_OWN_COMMENTS: 'edit the status comment in place',
  CREATE_ATTACHMENTS: 'attach long plans',
};

/** The global permission that lets the service read people's groups for approvals. */
const BROWSE_USERS = 'USER_PICKER';

/** Events the service's webhook must send. */
const WEBHOOK_EVENTS = ['jira:issue_created', 'jira:issue_updated', 'comment_created'];

const id = z.union([z.number(), z.string()]).transform(String);
const permissionsSchema = z.looseObject({ permissions: z.record(z.string(), z.looseObject({ havePermission: z.boolean() })) });
const projectSchema = z.looseObject({ id, key: z.string(), issueTypes: z.array(z.looseObject({ id, name: z.string() })).default([]) });
const projectStatuses = z.array(z.looseObject({ id, name: z.string(), statuses: z.array(z.looseObject({ id, name: z.string() })) }));
const schemeAssociations = z.looseObject({
  values: z.array(z.looseObject({ projectIds: z.array(id), workflowScheme: z.looseObject({ defaultWorkflow: z.string().optional(), issueTypeMappings: z.record(z.string(), z.string()).optional() }) })),
});
const workflowItem = z.looseObject({
  id: z.looseObject({ name: z.string() }),
  transitions: z.array(z.looseObject({ name: z.string(), from: z.array(z.string()), to: z.string() })).default([]),
  statuses: z.array(z.looseObject({ id, name: z.string() })).default([]),
});
const adminWebhooks = z.array(
  z.looseObject({ name: z.string().optional(), url: z.string(), events: z.array(z.string()).default([]), enabled: z.boolean().optional(), filters: z.record(z.string(), z.string().nullable()).optional() }),
);
const fieldList = z.array(z.looseObject({ id: z.string(), name: z.string(), custom: z.boolean().optional() }));
const tabList = z.array(z.looseObject({ id, name: z.string() }));
const screenFields = z.array(z.looseObject({ id: z.string() }));

/** Dependencies of {@link JiraDoctor}. */
export interface JiraDoctorDeps {
  client: JiraClient;
  config: JiraSurfaceConfig;
  /** The site's base URL, for the report. */
  site: string;
  /** Our clock, compared with the site's `Date` header. */
  now(): Date;
}

/** A configured project as Jira knows it. */
interface FoundProject {
  key: string;
  config: JiraProjectConfig;
  id: string;
  issueTypes: Array<{ id: string; name: string }>;
}

/** Runs the read-only checks of a Jira site (see the module notes). */
export class JiraDoctor {
  private readonly out: DoctorReportBuilder;

  constructor(private readonly deps: JiraDoctorDeps) {
    this.out = new DoctorReportBuilder('Jira', deps.site);
  }

  /** Every check; stops after the credentials when they are refused (nothing else can be read). */
  async run(): Promise<DoctorReport> {
    if (!(await this.checkCredentials())) return this.out.build();
    const projects = await this.findProjects();
    for (const p of projects) {
      await this.checkPermissions(p);
      await this.checkStatuses(p);
      await this.checkTransitions(p);
    }
    await this.checkWebhook();
    await this.checkScreens(projects);
    return this.out.build();
  }

  private async checkCredentials(): Promise<boolean> {
    try {
      const me = await this.deps.client.whoAmI();
      this.out.ok('credentials', `logged in as ${me.displayName ?? me.accountId}`);
      checkClockSkew(this.out, me.date, this.deps.now());
      const global = await this.deps.client.api('GET', '/rest/api/3/mypermissions', permissionsSchema, { params: { permissions: BROWSE_USERS } });
      if (global.permissions[BROWSE_USERS]?.havePermission) this.out.ok('permissions', 'Browse users and groups');
      else this.out.problem('permissions', 'the account lacks the global permission Browse users and groups: approvers’ groups cannot be read', `Jira settings → System → Global permissions: grant "Browse users and groups" to a group of ${me.displayName ?? me.accountId}`);
      return true;
    } catch (err) {
      if (!(err instanceof JiraAuthError)) throw err;
      this.out.problem('credentials', 'Jira refused JIRA_EMAIL and JIRA_API_TOKEN (401)', 'set JIRA_EMAIL to the service account’s email and JIRA_API_TOKEN to an API token of that account (Atlassian account settings → Security → API tokens)');
      return false;
    }
  }

  /** The configured projects Jira has; each missing one (or issue type) is a problem. */
  private async findProjects(): Promise<FoundProject[]> {
    const found: FoundProject[] = [];
    for (const [key, config] of Object.entries(this.deps.config.projects)) {
      try {
        const p = await this.deps.client.api('GET', `/rest/api/3/project/${encodeURIComponent(key)}`, projectSchema);
        found.push({ key, config, id: p.id, issueTypes: p.issueTypes });
        const missing = Object.keys(config.issueTypes).filter((t) => !p.issueTypes.some((x) => x.name === t));
        if (missing.length) this.out.problem('issue types', `project ${key} has no issue type ${missing.map((t) => `"${t}"`).join(', ')}`, `add the issue type to project ${key}’s issue type scheme, or correct issueTypes in JIRA_CONFIG_FILE`);
        else this.out.ok('project', `${key} with issue types ${Object.keys(config.issueTypes).join(', ')}`);
      } catch (err) {
        if (!(err instanceof JiraApiError && err.status === 404)) throw err;
        this.out.problem('project', `project ${key} does not exist or the account cannot browse it`, `create project ${key}, grant the service account Browse projects in it, or correct the key in JIRA_CONFIG_FILE`);
      }
    }
    return found;
  }

  private async checkPermissions(p: FoundProject): Promise<void> {
    const keys = Object.keys(PROJECT_PERMISSIONS);
    const res = await this.deps.client.api('GET', '/rest/api/3/mypermissions', permissionsSchema, { params: { projectKey: p.key, permissions: keys.join(',') } });
    const lacking = keys.filter((k) => !res.permissions[k]?.havePermission);
    if (!lacking.length) {
      this.out.ok('permissions', `all the service needs in ${p.key}`);
      return;
    }
    const why = lacking.map((k) => `${k} (to ${PROJECT_PERMISSIONS[k]})`).join(', ');
    this.out.problem('permissions', `in ${p.key} the account lacks ${why}`, `Project settings → Permissions of ${p.key}: grant these to a role or group the service account holds`);
  }

  /** Every status the configuration names exists for the project's request issue types. */
  private async checkStatuses(p: FoundProject): Promise<void> {
    const byType = await this.deps.client.api('GET', `/rest/api/3/project/${encodeURIComponent(p.key)}/statuses`, projectStatuses);
    const wanted = [...new Set(Object.values(p.config.statuses))];
    let problems = 0;
    for (const typeName of Object.keys(p.config.issueTypes)) {
      const type = byType.find((t) => t.name === typeName);
      if (!type) continue;
      const missing = wanted.filter((s) => !type.statuses.some((x) => x.name.toLowerCase() === s.toLowerCase()));
      if (!missing.length) continue;
      problems++;
      this.out.problem('statuses', `the workflow of ${p.key} "${typeName}" has no status ${missing.map((s) => `"${s}"`).join(', ')}`, `add the statuses to that workflow, or name the ones it has under projects.${p.key}.statuses in JIRA_CONFIG_FILE`);
    }
    if (!problems) this.out.ok('statuses', `${p.key} has ${wanted.join(', ')}`);
  }

  /** A transition leads into every status the service moves issues to. */
  private async checkTransitions(p: FoundProject): Promise<void> {
    const workflows = await this.workflowsOf(p);
    if (!workflows) return;
    const s = p.config.statuses;
    const targets = [s.needsInfo, s.planned, s.awaitingApproval, s.approved, s.done, s.rejected, s.cancelled];
    let problems = 0;
    for (const wf of workflows) {
      const names = new Map(wf.statuses.map((x) => [x.id, x.name.toLowerCase()]));
      const reached = new Set(wf.transitions.map((t) => names.get(t.to)));
      const missing = [...new Set(targets)].filter((t) => !reached.has(t.toLowerCase()));
      if (!missing.length) continue;
      problems++;
      this.out.problem('transitions', `workflow "${wf.id.name}" of ${p.key} has no transition into ${missing.map((t) => `"${t}"`).join(', ')}`, `edit workflow "${wf.id.name}": add a transition into each (a global transition will do), then publish it`);
    }
    if (!problems) this.out.ok('transitions', `${p.key}'s workflow reaches every status the service moves issues to`);
  }

  /** The workflows of the project's configured issue types, through its workflow scheme. */
  private async workflowsOf(p: FoundProject): Promise<Array<z.infer<typeof workflowItem>> | undefined> {
    const { client } = this.deps;
    const schemes = await this.readAdmin('transitions', () => client.api('GET', '/rest/api/3/workflowscheme/project', schemeAssociations, { params: { projectId: p.id } }));
    const scheme = schemes?.values.find((v) => v.projectIds.includes(p.id))?.workflowScheme;
    if (!scheme) return undefined;
    const typeIds = p.issueTypes.filter((t) => p.config.issueTypes[t.name]).map((t) => t.id);
    const names = new Set(typeIds.map((t) => scheme.issueTypeMappings?.[t] ?? scheme.defaultWorkflow ?? 'jira'));
    const out: Array<z.infer<typeof workflowItem>> = [];
    for (const name of names) out.push(...(await client.pages('/rest/api/3/workflow/search', workflowItem, { workflowName: name, expand: 'transitions,statuses' })));
    return out;
  }

  /** An admin webhook to the service's /webhooks/jira with the events it needs and a JQL filter naming every project. */
  private async checkWebhook(): Promise<void> {
    const hooks = await this.readAdmin('webhook', () => this.deps.client.api('GET', '/rest/webhooks/1.0/webhook', adminWebhooks));
    if (!hooks) return;
    const ours = hooks.filter((h) => /\/webhooks\/jira\/?$/.test(new URL(h.url, 'http://x').pathname) && h.enabled !== false);
    const fix = 'Jira settings → System → WebHooks → Create a WebHook: URL https://<your service>/webhooks/jira, the secret of JIRA_WEBHOOK_SECRET, JQL naming your projects, events Issue created and updated, Comment created';
    if (!ours.length) {
      this.out.problem('webhook', 'no enabled admin webhook sends to /webhooks/jira', fix);
      return;
    }
    const keys = Object.keys(this.deps.config.projects);
    const good = ours.find((h) => WEBHOOK_EVENTS.every((e) => h.events.includes(e)) && jqlNames(h.filters?.['issue-related-events-section'] ?? '', keys));
    if (good) {
      this.out.ok('webhook', `"${good.name ?? good.url}" sends ${WEBHOOK_EVENTS.join(', ')} for ${keys.join(', ')} (its secret cannot be read back: JIRA_WEBHOOK_SECRET must match it)`);
      return;
    }
    const h = ours[0]!;
    const lacking = WEBHOOK_EVENTS.filter((e) => !h.events.includes(e));
    const what = lacking.length ? `does not send ${lacking.join(', ')}` : `has no JQL filter naming every configured project (${keys.join(', ')})`;
    this.out.problem('webhook', `webhook "${h.name ?? h.url}" ${what}`, fix);
  }

  /** The Bundle field of the forms sync is on every screen it owns that an issue type without a bundle shows. */
  private async checkScreens(projects: FoundProject[]): Promise<void> {
    const { client } = this.deps;
    const screened: ScreenedProject[] = projects.map((p) => screenedProject(p.key, p.id, p.issueTypes, p.config));
    let plan;
    try {
      plan = await new JiraScreenFinder(client).plan(screened);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.out.problem('screens', err.message, 'name the screens under projects.<KEY>.screens in JIRA_CONFIG_FILE, or give the project an issue type screen scheme');
      return;
    }
    const bundle = (await client.api('GET', '/rest/api/3/field', fieldList)).find((f) => f.custom && f.name === 'Bundle');
    const fix = 'run `ticket-surface forms sync --surface jira`';
    if (!bundle) return this.out.problem('screens', 'the Bundle field does not exist: forms were never synced', fix);
    const bare: string[] = [];
    // The Bundle field goes only on screens an issue type without a bundle shows.
    for (const screen of plan.screens) if (screen.everyBundle && !(await this.onScreen(screen.id, bundle.id))) bare.push(`"${screen.name}"`);
    if (bare.length) this.out.problem('screens', `the request fields are not on screen ${bare.join(', ')}`, fix);
    else this.out.ok('screens', `the request fields are on ${plan.screens.length} screen${plan.screens.length === 1 ? '' : 's'} of the configured projects`);
  }

  private async onScreen(screenId: string, fieldId: string): Promise<boolean> {
    const { client } = this.deps;
    for (const tab of await client.api('GET', `/rest/api/3/screens/${screenId}/tabs`, tabList)) {
      const fields = await client.api('GET', `/rest/api/3/screens/${screenId}/tabs/${tab.id}/fields`, screenFields);
      if (fields.some((f) => f.id === fieldId)) return true;
    }
    return false;
  }

  /** A read that needs Jira administration: a 403 is a problem saying so, not a failure of the doctor. */
  private async readAdmin<T>(check: string, read: () => Promise<T>): Promise<T | undefined> {
    try {
      return await read();
    } catch (err) {
      if (!(err instanceof JiraApiError && (err.status === 403 || err.status === 401))) throw err;
      this.out.problem(check, 'the account may not read this (Jira administration needed)', 'add the service account to a group with the global permission Administer Jira (forms sync needs it too)');
      return undefined;
    }
  }
}

/** Whether a webhook's JQL filter names every project key (an empty filter sends every project's issues: not ours). */
function jqlNames(jql: string, keys: string[]): boolean {
  if (!jql.trim()) return false;
  return keys.every((k) => new RegExp(`(^|[^A-Za-z0-9_])${k}([^A-Za-z0-9_]|$)`).test(jql));
}
