import { z } from 'zod';
import type { Logger } from '../../engine/logger.ts';
import type { SurfaceIdStore } from '../../engine/surface-ids.ts';
import type { FormCatalog } from '../../forms/catalog.ts';
import { resolveDynamicOptions, type Form, type OptionSources } from '../../forms/index.ts';
import { JiraApiError, type JiraClient } from './client.ts';
import type { JiraSurfaceConfig } from './config.ts';
import { renderJiraForm, JIRA_FIELD_TYPES, type JiraFieldSpec, type JiraOptionSpec } from './form-renderer.ts';
import { JiraScreenFinder, screenedProject, type ScreenedProject, type TargetScreen } from './screens.ts';
import { JiraBundleIssueTypes, type BundleIssueType } from './bundle-issue-types.ts';

/** What one sync did. */
export interface JiraSyncReport {
  created: string[];
  updated: string[];
  disabled: string[];
  /** Fields of the sync taken off a screen whose issue types ask for other bundles. */
  removed: string[];
  /** Write calls made (POST/PUT); 0 on an unchanged catalog. */
  writes: number;
  /** What an administrator should know (screens shared with other projects); also logged. */
  warnings: string[];
}

/** Dependencies of {@link JiraFormsSync}. */
export interface JiraFormsSyncDeps {
  client: JiraClient;
  ids: SurfaceIdStore;
  forms: FormCatalog;
  config: JiraSurfaceConfig;
  options: OptionSources;
  logger: Logger;
}

const fieldList = z.array(z.object({ id: z.string(), name: z.string(), custom: z.boolean().optional() }).passthrough());
const contextItem = z.object({ id: z.string(), name: z.string() }).passthrough();
const optionItem = z.object({ id: z.string(), value: z.string(), disabled: z.boolean().optional() }).passthrough();
const projectBean = z.object({ id: z.string(), key: z.string(), issueTypes: z.array(z.object({ id: z.string(), name: z.string() }).passthrough()).default([]) }).passthrough();
const tabItem = z.object({ id: z.union([z.number(), z.string()]).transform(String), name: z.string() }).passthrough();
const screenField = z.object({ id: z.string() }).passthrough();
const contextIssueType = z.looseObject({ contextId: z.string(), issueTypeId: z.string().optional(), isAnyIssueType: z.boolean().optional() });

/**
 * Whether the field of `key` belongs on `screen`: the shared request fields everywhere, the
 * Bundle field and every bundle's questions where an issue type without a bundle shows the
 * screen, a bundle's questions where that bundle's issue type shows it.
 */
function belongsOn(screen: TargetScreen, key: string): boolean {
  if (key === 'request/bundle') return screen.everyBundle;
  if (key.startsWith('request/')) return true;
  return screen.everyBundle || screen.bundles.includes(key.slice(0, key.indexOf('/')));
}

/** Where a sync key puts a field: shared request fields once, bundle questions per bundle. */
function syncKey(bundle: string, formField: string): string {
  if (formField === 'request_environment') return 'request/environment';
  if (formField === 'request_package') return 'request/package';
  return `${bundle}/${formField}`;
}

/**
 * `forms sync --surface jira`: makes Jira's custom fields, contexts, options and screen
 * placement match the form catalog, creating or changing only what is missing or different
 * (read back from Jira, not trusted from memory). Options no longer offered are disabled, never
 * deleted; fields are never deleted. A second run on an unchanged catalog writes nothing.
 */
export class JiraFormsSync {
  private writes = 0;

  constructor(private readonly deps: JiraFormsSyncDeps) {}

  /**
   * Syncs every bundle's form into every configured project: fields, contexts scoped to the
   * projects' request issue types, options, and placement on those projects' screens only, each
   * screen carrying the questions of the bundles its issue types ask for (see {@link belongsOn}).
   * Projects in per-bundle mode first get each bundle's issue type, screen and schemes (see
   * {@link JiraBundleIssueTypes}).
   * @throws {@link ConfigError} when a project has neither configured screens nor an issue type
   * screen scheme, or (per-bundle mode) shares its issue type screen scheme or issue type scheme.
   */
  async sync(): Promise<JiraSyncReport> {
    this.writes = 0;
    const report: JiraSyncReport = { created: [], updated: [], disabled: [], removed: [], writes: 0, warnings: [] };
    const forms = await this.resolvedForms();
    const bundleTypes = await this.bundleIssueTypes(forms, report);
    const projects = await this.projects(bundleTypes);
    // Which screens are ours is settled before anything is written: a refusal changes nothing.
    const plan = await new JiraScreenFinder(this.deps.client).plan(projects);
    report.warnings.push(...plan.warnings);
    const scope = { projectIds: projects.map((p) => p.id), issueTypeIds: [...new Set(projects.flatMap((p) => p.issueTypeIds))] };
    const specs = this.fieldSpecs(forms);
    const existing = new Map((await this.deps.client.api('GET', '/rest/api/3/field', fieldList)).map((f) => [f.id, f]));
    for (const [key, spec] of specs) {
      const id = await this.ensureField(key, spec, existing, report);
      const contextId = await this.ensureContext(id, key, spec, scope, report);
      if (bundleTypes.size) await this.widenContext(id, contextId, key, [...bundleTypes.keys()], report);
      if (spec.options) await this.syncOptions(id, contextId, key, spec.options, report);
    }
    for (const screen of plan.screens) await this.placeOnScreen(screen, [...specs.keys()], report);
    report.writes = this.writes;
    for (const w of report.warnings) this.deps.logger.warn({ warning: w }, 'jira forms sync');
    this.deps.logger.info({ created: report.created.length, updated: report.updated.length, disabled: report.disabled.length, writes: report.writes }, 'jira forms synced');
    return report;
  }

  /**
   * The configured projects as Jira knows them, with their request issue types; `bundleTypes`
   * (issue type id → bundle) count in the projects in per-bundle mode.
   */
  private async projects(bundleTypes: ReadonlyMap<string, string>): Promise<ScreenedProject[]> {
    const out: ScreenedProject[] = [];
    for (const [key, p] of Object.entries(this.deps.config.projects)) {
      const project = await this.deps.client.api('GET', `/rest/api/3/project/${key}`, projectBean);
      out.push(screenedProject(key, project.id, project.issueTypes, p, p.issueTypePerBundle ? bundleTypes : undefined));
    }
    return out;
  }

  /**
   * Per-bundle mode: each bundle's issue type, screen and schemes in the projects that ask for it,
   * created where missing. Returns issue type id → bundle (empty when no project is in that mode).
   */
  private async bundleIssueTypes(forms: Form[], report: JiraSyncReport): Promise<Map<string, string>> {
    const perBundle = Object.entries(this.deps.config.projects).filter(([, p]) => p.issueTypePerBundle);
    if (!perBundle.length) return new Map();
    // Whether every project's screens can be found is settled before anything is created here.
    await new JiraScreenFinder(this.deps.client).plan(await this.projects(new Map()));
    const projects = [];
    for (const [key] of perBundle) projects.push({ key, id: (await this.deps.client.api('GET', `/rest/api/3/project/${key}`, projectBean)).id });
    // An issue type the configuration names for a bundle keeps its name; otherwise the form's title.
    const named = new Map(perBundle.flatMap(([, p]) => Object.entries(p.issueTypes).flatMap(([name, t]) => (t.bundle ? [[t.bundle, name] as const] : []))));
    const bundles: BundleIssueType[] = forms.map((f) => ({ bundle: f.bundle, title: f.title, name: (named.get(f.bundle) ?? f.title).slice(0, 60).trim() }));
    const types = await new JiraBundleIssueTypes(this.deps.client, this.deps.ids, (call) => this.write(call)).ensure(projects, bundles, report);
    return new Map([...types].map(([bundle, typeId]) => [typeId, bundle]));
  }

  /** Every bundle's form with its dynamic options resolved now. */
  private async resolvedForms(): Promise<Form[]> {
    const forms: Form[] = [];
    for (const form of await this.deps.forms.all()) forms.push(await resolveDynamicOptions(form, this.deps.options, {}));
    return forms;
  }

  /** One field spec per sync key: the Bundle select, the shared request fields once, each bundle's questions. */
  private fieldSpecs(forms: Form[]): Map<string, JiraFieldSpec> {
    const specs = new Map<string, JiraFieldSpec>();
    // The Bundle question: which bundle a ticket asks for.
    specs.set('request/bundle', bundleFieldSpec(forms));
    for (const form of forms) {
      for (const f of renderJiraForm(form, {}).fields) {
        const key = syncKey(form.bundle, f.formField);
        const prior = specs.get(key);
        if (prior?.options && f.options) {
          const have = new Set(prior.options.map((o) => o.value));
          prior.options.push(...f.options.filter((o) => !have.has(o.value)));
        } else if (!prior) specs.set(key, f);
      }
    }
    return specs;
  }

  /** The field's id: remembered and still in Jira, or created now (its description names its owner). */
  private async ensureField(key: string, spec: JiraFieldSpec, existing: Map<string, unknown>, report: JiraSyncReport): Promise<string> {
    const known = await this.deps.ids.get('jira', key);
    if (known && existing.has(known)) return known;
    const data = { ...spec.create, description: withOwner(spec.create.description, key) };
    const created = await this.write(() => this.deps.client.api('POST', '/rest/api/3/field', z.object({ id: z.string() }).passthrough(), { data }));
    await this.deps.ids.set('jira', key, created.id);
    report.created.push(`field ${spec.create.name} (${key}) = ${created.id}`);
    return created.id;
  }

  /** Re-syncs only the options of fields with a dynamic source (after an attestation, a new environment). */
  async resyncDynamicOptions(): Promise<JiraSyncReport> {
    this.writes = 0;
    const report: JiraSyncReport = { created: [], updated: [], disabled: [], removed: [], writes: 0, warnings: [] };
    for (const form of await this.deps.forms.all()) {
      const resolved = await resolveDynamicOptions(form, this.deps.options, {});
      for (const f of renderJiraForm(resolved, {}).fields) {
        if (!f.dynamic || !f.options) continue;
        const key = syncKey(form.bundle, f.formField);
        const id = await this.deps.ids.get('jira', key);
        const ctx = id ? await this.deps.ids.get('jira', `context/${id}`) : undefined;
        if (id && ctx) await this.syncOptions(id, ctx, key, f.options, report);
      }
    }
    report.writes = this.writes;
    return report;
  }

  private async write<T>(fn: () => Promise<T>): Promise<T> {
    this.writes++;
    return fn();
  }

  private async ensureContext(fieldId: string, key: string, spec: JiraFieldSpec, scope: { projectIds: string[]; issueTypeIds: string[] }, report: JiraSyncReport): Promise<string> {
    const { client } = this.deps;
    const known = await this.deps.ids.get('jira', `context/${fieldId}`);
    const contexts = await client.pages(`/rest/api/3/field/${fieldId}/context`, contextItem);
    const name = `ticket-surface ${key}`;
    const found = contexts.find((c) => c.id === known) ?? contexts.find((c) => c.name === name);
    if (found) {
      if (found.id !== known) await this.deps.ids.set('jira', `context/${fieldId}`, found.id);
      return found.id;
    }
    const created = await this.write(() =>
      client.api('POST', `/rest/api/3/field/${fieldId}/context`, z.object({ id: z.string() }).passthrough(), {
        data: { name, description: spec.context.description, projectIds: scope.projectIds, issueTypeIds: scope.issueTypeIds },
      }),
    );
    await this.deps.ids.set('jira', `context/${fieldId}`, created.id);
    report.created.push(`context of ${key} for projects ${scope.projectIds.join(',')}`);
    return created.id;
  }

  /**
   * Adds the per-bundle issue types a field's context lacks (a context made before the project
   * switched to per-bundle mode); a context applying to every issue type is left as it is.
   */
  private async widenContext(fieldId: string, contextId: string, key: string, issueTypeIds: string[], report: JiraSyncReport): Promise<void> {
    const rows = await this.deps.client.pages(`/rest/api/3/field/${fieldId}/context/issuetypemapping`, contextIssueType, { contextId: [contextId] });
    const mine = rows.filter((r) => r.contextId === contextId);
    if (mine.some((r) => r.isAnyIssueType)) return;
    const missing = issueTypeIds.filter((t) => !mine.some((r) => r.issueTypeId === t));
    if (!missing.length) return;
    await this.write(() => this.deps.client.api('PUT', `/rest/api/3/field/${fieldId}/context/${contextId}/issuetype`, z.unknown(), { data: { issueTypeIds: missing } }));
    report.updated.push(`context of ${key}: issue types ${missing.join(', ')} added`);
  }

  /**
   * Adds options to a field context. Another process syncing the same options at the same moment
   * (two workers re-syncing a dynamic dropdown) makes Jira refuse ours (400): then the options
   * are read again, and when every one is there now, theirs are taken as ours.
   */
  private async addOptions(path: string, add: { value: string; disabled: boolean }[]): Promise<z.infer<typeof optionItem>[]> {
    const { client } = this.deps;
    try {
      return (await this.write(() => client.api('POST', path, z.object({ options: z.array(optionItem) }).passthrough(), { data: { options: add } }))).options;
    } catch (err) {
      if (!(err instanceof JiraApiError && err.status === 400)) throw err;
      const now = new Map((await client.pages(path, optionItem)).map((o) => [o.value, o]));
      const made = add.map((o) => now.get(o.value));
      if (made.some((o) => !o)) throw err;
      this.deps.logger.info({ path }, 'options added meanwhile by another sync: taken as they are');
      return made as z.infer<typeof optionItem>[];
    }
  }

  private async syncOptions(fieldId: string, contextId: string, key: string, desired: JiraOptionSpec[], report: JiraSyncReport): Promise<void> {
    const { client } = this.deps;
    const path = `/rest/api/3/field/${fieldId}/context/${contextId}/option`;
    const current = await client.pages(path, optionItem);
    const byValue = new Map(current.map((o) => [o.value, o]));
    const want = new Set(desired.map((o) => o.value));
    const add = desired.filter((o) => !byValue.has(o.value)).map((o) => ({ value: o.value, disabled: false }));
    const changes = [
      ...current.filter((o) => !want.has(o.value) && !o.disabled).map((o) => ({ id: o.id, value: o.value, disabled: true })),
      ...current.filter((o) => want.has(o.value) && o.disabled).map((o) => ({ id: o.id, value: o.value, disabled: false })),
    ];
    if (add.length) {
      const made = await this.addOptions(path, add);
      for (const o of made) await this.deps.ids.set('jira', `option/${fieldId}/${o.value}`, o.id);
      report.created.push(...add.map((o) => `option "${o.value}" of ${key}`));
    }
    if (changes.length) {
      await this.write(() => client.api('PUT', path, z.unknown(), { data: { options: changes } }));
      for (const c of changes) (c.disabled ? report.disabled : report.updated).push(`option "${c.value}" of ${key}${c.disabled ? '' : ' re-enabled'}`);
    }
  }

  /**
   * Puts every synced field that belongs on `screen` and is not yet on it (on any of its tabs) on
   * its first tab, and takes off the synced fields that do not belong there (another bundle's
   * questions, placed before its issue types named their bundles). Fields the sync does not own
   * are never touched.
   */
  private async placeOnScreen(screen: TargetScreen, keys: string[], report: JiraSyncReport): Promise<void> {
    const { client } = this.deps;
    const tabs = z.array(tabItem).parse(await client.api('GET', `/rest/api/3/screens/${screen.id}/tabs`, z.unknown()));
    const tab = tabs[0];
    if (!tab) return;
    const tabOf = new Map<string, string>();
    for (const t of tabs) {
      const fields = z.array(screenField).parse(await client.api('GET', `/rest/api/3/screens/${screen.id}/tabs/${t.id}/fields`, z.unknown()));
      for (const f of fields) tabOf.set(f.id, t.id);
    }
    const where = `screen "${screen.name}" (${screen.projects.join(', ')})`;
    for (const key of keys) {
      const id = await this.deps.ids.get('jira', key);
      if (!id) continue;
      const on = tabOf.get(id);
      if (belongsOn(screen, key) && on === undefined) {
        await this.write(() => client.api('POST', `/rest/api/3/screens/${screen.id}/tabs/${tab.id}/fields`, z.unknown(), { data: { fieldId: id } }));
        tabOf.set(id, tab.id);
        report.created.push(`${key} on ${where}`);
      } else if (!belongsOn(screen, key) && on !== undefined) {
        await this.write(() => client.api('DELETE', `/rest/api/3/screens/${screen.id}/tabs/${on}/fields/${id}`, z.unknown()));
        tabOf.delete(id);
        report.removed.push(`${key} from ${where}`);
      }
    }
  }
}

/**
 * A field's description ends by saying whose question it is: fields share names across bundles
 * (every bundle may ask "Version"), so the description tells them apart in Jira's field list.
 */
function withOwner(description: string, key: string): string {
  const owner = key.startsWith('request/') ? ' (ticket-surface: shared by every bundle)' : ` (ticket-surface: bundle ${key.slice(0, key.indexOf('/'))})`;
  return `${description.slice(0, 1000 - owner.length).trimEnd()}${owner}`.trim();
}

/** The shared "Bundle" select: one option per bundle, labelled by its form title. */
function bundleFieldSpec(forms: Form[]): JiraFieldSpec {
  const kind = 'select' as const;
  return {
    key: 'request.bundle',
    formField: 'request_bundle',
    kind,
    create: { name: 'Bundle', description: 'What you are asking for. The questions of the chosen bundle apply.', ...JIRA_FIELD_TYPES[kind] },
    context: { name: 'ticket-surface request/bundle', description: 'ticket-surface bundles', projectIds: [], issueTypeIds: [] },
    options: forms.map((f) => ({ value: f.bundle, paramValue: f.bundle, disabled: false })),
    required: true,
    tab: 'Request',
    jsm: { fieldId: 'request.bundle', name: 'Bundle', description: '', required: true, visible: true, validValues: [], defaultValues: [], jiraSchema: { type: 'option', custom: JIRA_FIELD_TYPES[kind].type } },
  };
}
