/**
 * Per-bundle mode of the Jira forms sync (`issueTypePerBundle: true` on a project): every bundle
 * gets an issue type of its own, a screen and a screen scheme showing only its questions, an
 * entry in the project's issue type screen scheme mapping the issue type to that screen scheme,
 * and a place in the project's issue type scheme. What exists is found again (by the id
 * remembered, else by name) and only what is missing is created, so a second run writes nothing.
 * Nothing is renamed or deleted. A scheme another project uses too is never changed: the sync
 * refuses, before writing anything, saying what to configure.
 */
import { z } from 'zod';
import { ConfigError } from '../../engine/errors.ts';
import type { SurfaceIdStore } from '../../engine/surface-ids.ts';
import type { JiraClient } from './client.ts';

/**
 * The {@link SurfaceIdStore} surface holding bundle → issue type id of the per-bundle issue
 * types (its own hashes: issue type ids would collide with other numeric Jira ids in `jira`).
 */
export const BUNDLE_ISSUE_TYPES = 'jira-issuetypes';
/** The store surface holding `screen/<bundle>` and `screenscheme/<bundle>` → their Jira ids. */
const BUNDLE_SCREENS = 'jira-bundle-screens';

/** One bundle's issue type as per-bundle mode wants it. */
export interface BundleIssueType {
  bundle: string;
  /** The issue type's name (the form's title unless configuration names one; at most 60 characters). */
  name: string;
  /** The bundle's form title, for the screen's and screen scheme's names. */
  title: string;
}

/** A configured project in per-bundle mode. */
export interface PerBundleProject {
  key: string;
  id: string;
}

/** What the per-bundle set-up did, merged into the sync's report. */
export interface BundleIssueTypesReport {
  created: string[];
  warnings: string[];
}

/** Counts a write call and makes it. */
export type CountedWrite = <T>(call: () => Promise<T>) => Promise<T>;

const id = z.union([z.number(), z.string()]).transform(String);
const named = z.looseObject({ id, name: z.string() });
const itssProjects = z.looseObject({ issueTypeScreenScheme: named, projectIds: z.array(id) });
const itsProjects = z.looseObject({ issueTypeScheme: named, projectIds: z.array(id) });
const itssMapping = z.looseObject({ issueTypeId: z.string(), issueTypeScreenSchemeId: id, screenSchemeId: id });
const itsMapping = z.looseObject({ issueTypeId: id, issueTypeSchemeId: id });
const projectItem = z.looseObject({ id, key: z.string() });
const tabItem = z.looseObject({ id });
const fieldItem = z.looseObject({ id: z.string() });

/** A per-bundle project's two schemes as read before anything is written. */
interface ProjectSchemes {
  project: PerBundleProject;
  screenScheme: { id: string; name: string; mappings: Map<string, string> };
  typeScheme: { id: string; name: string; issueTypeIds: Set<string> };
}

/** Creates and finds the per-bundle issue types, screens and schemes (see the module notes). */
export class JiraBundleIssueTypes {
  constructor(
    private readonly client: JiraClient,
    private readonly ids: SurfaceIdStore,
    private readonly write: CountedWrite,
  ) {}

  /**
   * Makes `bundles` each an issue type with its own screen in every project of `projects`.
   * Reads and checks both schemes of every project first: a refusal changes nothing.
   * @returns bundle → issue type id
   * @throws {@link ConfigError} when a project has no issue type screen scheme or issue type scheme of its own.
   */
  async ensure(projects: PerBundleProject[], bundles: BundleIssueType[], report: BundleIssueTypesReport): Promise<Map<string, string>> {
    if (!projects.length || !bundles.length) return new Map();
    const schemes = await this.projectSchemes(projects);
    const types = await this.ensureIssueTypes(bundles, report);
    const screenSchemes = new Map<string, string>();
    for (const b of bundles) screenSchemes.set(b.bundle, await this.ensureScreenScheme(b, await this.ensureScreen(b, report), report));
    for (const s of schemes) {
      await this.addToIssueTypeScheme(s, [...types.values()], report);
      await this.mapScreenSchemes(s, bundles, types, screenSchemes, report);
    }
    return types;
  }

  /** Each project's issue type screen scheme and issue type scheme, refused when shared or missing. */
  private async projectSchemes(projects: PerBundleProject[]): Promise<ProjectSchemes[]> {
    const projectIds = projects.map((p) => p.id);
    const ours = new Set(projectIds);
    const itss = await this.client.pages('/rest/api/3/issuetypescreenscheme/project', itssProjects, { projectId: projectIds });
    const typeAssociations = await this.client.pages('/rest/api/3/issuetypescheme/project', itsProjects, { projectId: projectIds });
    const out: ProjectSchemes[] = [];
    // Projects in per-bundle mode sharing a scheme share one record of it, so each write is made once.
    const screenSchemes = new Map<string, ProjectSchemes['screenScheme']>();
    const typeSchemes = new Map<string, ProjectSchemes['typeScheme']>();
    for (const project of projects) {
      const screenScheme = itss.find((a) => a.projectIds.includes(project.id))?.issueTypeScreenScheme;
      const typeScheme = typeAssociations.find((a) => a.projectIds.includes(project.id));
      if (!screenScheme || !typeScheme) throw new ConfigError('JIRA_CONFIG_FILE', unschemed(project.key));
      const screenSchemeUsers = await this.client.pages(`/rest/api/3/issuetypescreenscheme/${screenScheme.id}/project`, projectItem);
      refuseShared(project.key, `issue type screen scheme "${screenScheme.name}"`, screenSchemeUsers.filter((u) => !ours.has(u.id)).map((u) => u.key));
      const others = typeScheme.projectIds.filter((p) => !ours.has(p));
      refuseShared(project.key, `issue type scheme "${typeScheme.issueTypeScheme.name}"`, others.length ? await this.projectKeys(others) : []);
      if (!screenSchemes.has(screenScheme.id)) {
        const mappings = await this.client.pages('/rest/api/3/issuetypescreenscheme/mapping', itssMapping, { issueTypeScreenSchemeId: [screenScheme.id] });
        screenSchemes.set(screenScheme.id, { ...screenScheme, mappings: new Map(mappings.map((m) => [m.issueTypeId, m.screenSchemeId])) });
      }
      const its = typeScheme.issueTypeScheme;
      if (!typeSchemes.has(its.id)) {
        const items = await this.client.pages('/rest/api/3/issuetypescheme/mapping', itsMapping, { issueTypeSchemeId: [its.id] });
        typeSchemes.set(its.id, { ...its, issueTypeIds: new Set(items.map((i) => i.issueTypeId)) });
      }
      out.push({ project, screenScheme: screenSchemes.get(screenScheme.id)!, typeScheme: typeSchemes.get(its.id)! });
    }
    return out;
  }

  /** Keys of projects by id (ids Jira does not show are named by id). */
  private async projectKeys(ids: string[]): Promise<string[]> {
    const keys: string[] = [];
    for (const pid of ids.slice(0, 5)) keys.push((await this.client.api('GET', `/rest/api/3/project/${pid}`, projectItem)).key);
    return ids.length > 5 ? [...keys, `${ids.length - 5} more`] : keys;
  }

  /** Each bundle's issue type: remembered and still in Jira, or one of that name, or created now. */
  private async ensureIssueTypes(bundles: BundleIssueType[], report: BundleIssueTypesReport): Promise<Map<string, string>> {
    const all = await this.client.api('GET', '/rest/api/3/issuetype', z.array(named));
    const out = new Map<string, string>();
    for (const b of bundles) {
      const known = await this.ids.get(BUNDLE_ISSUE_TYPES, b.bundle);
      let found = all.find((t) => t.id === known) ?? all.find((t) => t.name.toLowerCase() === b.name.toLowerCase());
      if (!found) {
        const data = { name: b.name, description: issueTypeDescription(b.bundle), hierarchyLevel: 0 };
        found = await this.write(() => this.client.api('POST', '/rest/api/3/issuetype', named, { data }));
        all.push(found);
        report.created.push(`issue type "${b.name}" for bundle ${b.bundle}`);
      }
      if (found.id !== known) await this.ids.set(BUNDLE_ISSUE_TYPES, b.bundle, found.id);
      out.set(b.bundle, found.id);
    }
    return out;
  }

  /** The bundle's screen (created when missing), with the Summary on it. */
  private async ensureScreen(b: BundleIssueType, report: BundleIssueTypesReport): Promise<string> {
    const name = managedName(b.title);
    const screenId = await this.findOrCreate(`screen/${b.bundle}`, '/rest/api/3/screens', name, async () => {
      report.created.push(`screen "${name}"`);
      return this.client.api('POST', '/rest/api/3/screens', named, { data: { name, description: managedDescription(b.bundle, 'screen') } });
    });
    const tabs = await this.client.api('GET', `/rest/api/3/screens/${screenId}/tabs`, z.array(tabItem));
    for (const t of tabs) {
      const fields = await this.client.api('GET', `/rest/api/3/screens/${screenId}/tabs/${t.id}/fields`, z.array(fieldItem));
      if (fields.some((f) => f.id === 'summary')) return screenId;
    }
    if (tabs[0]) {
      await this.write(() => this.client.api('POST', `/rest/api/3/screens/${screenId}/tabs/${tabs[0]!.id}/fields`, z.unknown(), { data: { fieldId: 'summary' } }));
      report.created.push(`summary on screen "${name}"`);
    }
    return screenId;
  }

  /** The bundle's screen scheme showing `screenId` (created when missing). */
  private async ensureScreenScheme(b: BundleIssueType, screenId: string, report: BundleIssueTypesReport): Promise<string> {
    const name = managedName(b.title);
    return this.findOrCreate(`screenscheme/${b.bundle}`, '/rest/api/3/screenscheme', name, async () => {
      report.created.push(`screen scheme "${name}"`);
      const data = { name, description: managedDescription(b.bundle, 'screen scheme'), screens: { default: Number(screenId) } };
      return this.client.api('POST', '/rest/api/3/screenscheme', z.looseObject({ id }), { data });
    });
  }

  /** The id of what `key` remembers (still listed at `list`), else of the one named `name`, else of what `create` makes. */
  private async findOrCreate(key: string, list: string, name: string, create: () => Promise<{ id: string }>): Promise<string> {
    const known = await this.ids.get(BUNDLE_SCREENS, key);
    const byId = known ? await this.client.pages(list, named, { id: [known] }) : [];
    const found = byId.find((x) => x.id === known) ?? (await this.client.pages(list, named, { queryString: name })).find((x) => x.name === name);
    const idNow = found?.id ?? (await this.write(create)).id;
    if (idNow !== known) await this.ids.set(BUNDLE_SCREENS, key, idNow);
    return idNow;
  }

  /** Adds the issue types the project's issue type scheme lacks, in one call. */
  private async addToIssueTypeScheme(s: ProjectSchemes, typeIds: string[], report: BundleIssueTypesReport): Promise<void> {
    const missing = typeIds.filter((t) => !s.typeScheme.issueTypeIds.has(t));
    if (!missing.length) return;
    await this.write(() => this.client.api('PUT', `/rest/api/3/issuetypescheme/${s.typeScheme.id}/issuetype`, z.unknown(), { data: { issueTypeIds: missing } }));
    for (const t of missing) s.typeScheme.issueTypeIds.add(t);
    report.created.push(`${missing.length} issue type${missing.length === 1 ? '' : 's'} in issue type scheme "${s.typeScheme.name}" (${s.project.key})`);
  }

  /** Maps each unmapped bundle issue type to its screen scheme; a mapping an administrator chose is kept. */
  private async mapScreenSchemes(
    s: ProjectSchemes,
    bundles: BundleIssueType[],
    types: Map<string, string>,
    screenSchemes: Map<string, string>,
    report: BundleIssueTypesReport,
  ): Promise<void> {
    const add: Array<{ issueTypeId: string; screenSchemeId: string }> = [];
    for (const b of bundles) {
      const issueTypeId = types.get(b.bundle)!;
      const mapped = s.screenScheme.mappings.get(issueTypeId);
      if (mapped === undefined) add.push({ issueTypeId, screenSchemeId: screenSchemes.get(b.bundle)! });
      else if (mapped !== screenSchemes.get(b.bundle)) {
        report.warnings.push(`issue type "${b.name}" is mapped to another screen scheme in "${s.screenScheme.name}" (${s.project.key}); left as it is: the bundle's questions go on that scheme's screens`);
      }
    }
    if (!add.length) return;
    await this.write(() => this.client.api('PUT', `/rest/api/3/issuetypescreenscheme/${s.screenScheme.id}/mapping`, z.unknown(), { data: { issueTypeMappings: add } }));
    for (const m of add) s.screenScheme.mappings.set(m.issueTypeId, m.screenSchemeId);
    report.created.push(...add.map((m) => `mapping of issue type ${m.issueTypeId} to screen scheme ${m.screenSchemeId} in "${s.screenScheme.name}" (${s.project.key})`));
  }
}

/** The name of a screen or screen scheme the sync keeps for a bundle. */
function managedName(title: string): string {
  return `ticket-surface: ${title}`.slice(0, 255);
}

function managedDescription(bundle: string, what: string): string {
  return `Managed by ticket-surface (forms sync): the ${what} of bundle ${bundle}, showing only its questions.`;
}

function issueTypeDescription(bundle: string): string {
  return `Managed by ticket-surface: requests for bundle ${bundle}. Forms sync keeps its screen showing only this bundle's questions.`;
}

/** Refuses a scheme other projects use too: changing it would change their issues. */
function refuseShared(projectKey: string, scheme: string, others: string[]): void {
  if (!others.length) return;
  throw new ConfigError(
    'JIRA_CONFIG_FILE',
    `${scheme} of project ${projectKey} is shared with ${others.join(', ')}; forms sync does not change a shared scheme. ` +
      `Give project ${projectKey} a scheme of its own (Project settings), or set projects.${projectKey}.issueTypePerBundle: false and use the Bundle field`,
  );
}

function unschemed(projectKey: string): string {
  return (
    `project ${projectKey} has no issue type screen scheme or issue type scheme (a team-managed project?), so forms sync cannot give each bundle an issue type there. ` +
    `Use a company-managed project, or set projects.${projectKey}.issueTypePerBundle: false and use the Bundle field`
  );
}
