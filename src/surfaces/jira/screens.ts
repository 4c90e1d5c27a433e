/**
 * Which Jira screens the forms sync may place fields on: only those of the configured projects'
 * request issue types. A project names them in configuration (`screens: [id...]`), or they are
 * found the way Jira shows an issue: the project's issue type screen scheme maps each issue type
 * (or `default`) to a screen scheme, whose create, edit, view and default screens are the ones.
 * A project with neither (a team-managed project has no scheme) is refused with what to
 * configure. Every list is read to its last page.
 *
 * Each screen also says whose questions it carries: a screen shown by a request issue type
 * without a bundle (the Bundle field chooses) carries every bundle's; a screen shown only by
 * issue types that name a bundle carries only theirs.
 */
import { z } from 'zod';
import { ConfigError } from '../../engine/errors.ts';
import type { JiraClient } from './client.ts';
import type { JiraProjectConfig } from './config.ts';

/** A configured project as the sync found it in Jira. */
export interface ScreenedProject {
  /** Project key, as configured. */
  key: string;
  /** Jira's project id. */
  id: string;
  /** Ids of the project's request issue types. */
  issueTypeIds: string[];
  /** Issue type id → the bundle it names, for the request issue types that name one. */
  bundleOf: Record<string, string>;
  config: Pick<JiraProjectConfig, 'screens' | 'screen'>;
}

/** A screen the fields go on, the configured projects that show it, and whose questions it carries. */
export interface TargetScreen {
  id: string;
  name: string;
  projects: string[];
  /** A request issue type without a bundle shows it: every bundle's questions and the Bundle field. */
  everyBundle: boolean;
  /** The bundles named by the issue types that show it (sorted). */
  bundles: string[];
}

/** Whose questions a screen carries, gathered from the issue types that show it. */
interface ScreenUse {
  projects: Set<string>;
  everyBundle: boolean;
  bundles: Set<string>;
}

/**
 * A configured project's request issue types as Jira names them, with what its configuration
 * says; `bundleTypes` (issue type id → bundle: the per-bundle issue types forms sync keeps) are
 * request issue types of their bundle too, where the project offers them.
 */
export function screenedProject(
  key: string,
  id: string,
  issueTypes: Array<{ id: string; name: string }>,
  config: JiraProjectConfig,
  bundleTypes: ReadonlyMap<string, string> = new Map(),
): ScreenedProject {
  const requests = issueTypes.filter((t) => (config.issueTypes[t.name] && config.issueTypes[t.name]!.kind === 'request') || bundleTypes.has(t.id));
  const bundleOf: Record<string, string> = {};
  for (const t of requests) {
    const bundle = config.issueTypes[t.name]?.bundle ?? bundleTypes.get(t.id);
    if (bundle) bundleOf[t.id] = bundle;
  }
  return {
    key,
    id,
    issueTypeIds: requests.map((t) => t.id),
    bundleOf,
    config: { ...(config.screens ? { screens: config.screens } : {}), ...(config.screen ? { screen: config.screen } : {}) },
  };
}

/** The screens found, and what an administrator should know about them. */
export interface ScreenPlan {
  screens: TargetScreen[];
  warnings: string[];
}

const id = z.union([z.number(), z.string()]).transform(String);
const screenItem = z.looseObject({ id, name: z.string() });
const itssProjects = z.looseObject({ issueTypeScreenScheme: z.looseObject({ id, name: z.string() }), projectIds: z.array(id) });
const itssMapping = z.looseObject({ issueTypeId: z.string(), issueTypeScreenSchemeId: id, screenSchemeId: id });
const screenScheme = z.looseObject({ id, name: z.string(), screens: z.record(z.string(), id).optional() });
const projectItem = z.looseObject({ id, key: z.string() });

/** Finds the screens of the configured projects (see the module notes). */
export class JiraScreenFinder {
  constructor(private readonly client: JiraClient) {}

  /**
   * The screens to place fields on for `projects`.
   * @throws {@link ConfigError} naming every project that has neither configured screens nor an issue type screen scheme.
   */
  async plan(projects: ScreenedProject[]): Promise<ScreenPlan> {
    const byScreen = new Map<string, ScreenUse>();
    const add: AddScreen = (screenId, project, issueTypeIds) => {
      const use = byScreen.get(screenId) ?? { projects: new Set(), everyBundle: false, bundles: new Set() };
      use.projects.add(project.key);
      for (const type of issueTypeIds) {
        const bundle = project.bundleOf[type];
        if (bundle) use.bundles.add(bundle);
        else use.everyBundle = true;
      }
      byScreen.set(screenId, use);
    };
    const named = projects.filter((p) => p.config.screens || p.config.screen);
    for (const p of named) for (const s of await this.configuredScreens(p)) add(s, p, p.issueTypeIds);
    const schemed = projects.filter((p) => !named.includes(p));
    const warnings = schemed.length ? await this.schemeScreens(schemed, add) : [];
    const names = await this.screenNames([...byScreen.keys()]);
    const missing = [...byScreen.keys()].filter((s) => !names.has(s));
    if (missing.length) throw new ConfigError('JIRA_CONFIG_FILE', `no screen with id ${missing.join(', ')} in Jira; check the projects' screens`);
    const screens = [...byScreen].map(([screenId, use]) => ({
      id: screenId,
      name: names.get(screenId)!,
      projects: [...use.projects].sort(),
      everyBundle: use.everyBundle,
      bundles: [...use.bundles].sort(),
    }));
    warnings.push(...screens.flatMap(mixedScreenWarning));
    return { screens: screens.sort((a, b) => Number(a.id) - Number(b.id)), warnings };
  }

  /** Screen ids a project names: `screens` (ids), or the older `screen` (a name, looked up). */
  private async configuredScreens(p: ScreenedProject): Promise<string[]> {
    if (p.config.screens) return p.config.screens;
    const name = p.config.screen!;
    const found = (await this.client.pages('/rest/api/3/screens', screenItem, { queryString: name })).filter((s) => s.name === name);
    if (!found.length) throw new ConfigError('JIRA_CONFIG_FILE', `projects.${p.key}.screen: no screen named "${name}" in Jira; name the screens by id instead (screens: [<id>, ...])`);
    return found.map((s) => s.id);
  }

  /**
   * Adds the screens of each project's request issue types, through its issue type screen
   * scheme; returns warnings for schemes other projects use too.
   */
  private async schemeScreens(projects: ScreenedProject[], add: AddScreen): Promise<string[]> {
    const associations = await this.client.pages('/rest/api/3/issuetypescreenscheme/project', itssProjects, { projectId: projects.map((p) => p.id) });
    const schemeOf = new Map<string, { id: string; name: string }>();
    for (const a of associations) for (const pid of a.projectIds) schemeOf.set(pid, a.issueTypeScreenScheme);
    const without = projects.filter((p) => !schemeOf.has(p.id));
    if (without.length) throw new ConfigError('JIRA_CONFIG_FILE', unschemedMessage(without.map((p) => p.key)));
    const schemeIds = [...new Set([...schemeOf.values()].map((s) => s.id))];
    const mappings = await this.client.pages('/rest/api/3/issuetypescreenscheme/mapping', itssMapping, { issueTypeScreenSchemeId: schemeIds });
    const screenSchemeOf = (scheme: string, type: string): string | undefined => {
      const rows = mappings.filter((m) => m.issueTypeScreenSchemeId === scheme);
      return (rows.find((m) => m.issueTypeId === type) ?? rows.find((m) => m.issueTypeId === 'default'))?.screenSchemeId;
    };
    // Screen scheme id → the projects' request issue types that show its screens.
    const wanted = new Map<string, Array<{ project: ScreenedProject; type: string }>>();
    for (const p of projects) {
      for (const type of p.issueTypeIds) {
        const ss = screenSchemeOf(schemeOf.get(p.id)!.id, type);
        if (ss) wanted.set(ss, [...(wanted.get(ss) ?? []), { project: p, type }]);
      }
    }
    const screenSchemes = wanted.size ? await this.client.pages('/rest/api/3/screenscheme', screenScheme, { id: [...wanted.keys()] }) : [];
    for (const ss of screenSchemes) {
      for (const screenId of new Set(Object.values(ss.screens ?? {}))) for (const use of wanted.get(ss.id) ?? []) add(screenId, use.project, [use.type]);
    }
    return this.sharedSchemeWarnings(schemeOf, projects);
  }

  /** One warning per scheme that projects outside the configuration use too (their issues show these screens). */
  private async sharedSchemeWarnings(schemeOf: Map<string, { id: string; name: string }>, projects: ScreenedProject[]): Promise<string[]> {
    const ours = new Set(projects.map((p) => p.id));
    const warnings: string[] = [];
    const schemes = new Map([...schemeOf.values()].map((s) => [s.id, s]));
    for (const scheme of schemes.values()) {
      const users = await this.client.pages(`/rest/api/3/issuetypescreenscheme/${scheme.id}/project`, projectItem);
      const others = users.filter((u) => !ours.has(u.id)).map((u) => u.key);
      if (!others.length) continue;
      const shown = others.slice(0, 5).join(', ') + (others.length > 5 ? ` and ${others.length - 5} more` : '');
      warnings.push(`issue type screen scheme "${scheme.name}" is also used by ${shown}: the fields go on its screens, but their contexts keep them off those projects' issues`);
    }
    return warnings;
  }

  /** Names of the screens with these ids (ids Jira does not know are left out). */
  private async screenNames(ids: string[]): Promise<Map<string, string>> {
    if (!ids.length) return new Map();
    const screens = await this.client.pages('/rest/api/3/screens', screenItem, { id: ids });
    return new Map(screens.map((s) => [s.id, s.name]));
  }
}

/** Records that `project`'s request issue types `issueTypeIds` show a screen. */
type AddScreen = (screenId: string, project: ScreenedProject, issueTypeIds: string[]) => void;

/**
 * A screen shown both by issue types naming a bundle and by others (another bundle's, or one
 * without a bundle) carries all their questions: said, so the administrator can give each
 * bundle's issue type a screen scheme of its own.
 */
function mixedScreenWarning(screen: TargetScreen): string[] {
  if (!screen.bundles.length || (!screen.everyBundle && screen.bundles.length === 1)) return [];
  const types = `the issue types of bundle${screen.bundles.length > 1 ? 's' : ''} ${screen.bundles.join(', ')}`;
  const shown = screen.everyBundle ? `${types} and by one without a bundle, so it carries every bundle's questions` : `${types}, so it carries the questions of each`;
  return [`screen "${screen.name}" is shown by ${shown}: give each bundle's issue type a screen scheme of its own (in the issue type screen scheme) to show only its questions`];
}

/** What to configure for projects that have no issue type screen scheme. */
function unschemedMessage(keys: string[]): string {
  const which = keys.length === 1 ? `project ${keys[0]} has` : `projects ${keys.join(', ')} have`;
  return (
    `${which} no issue type screen scheme (a team-managed project?), so forms sync cannot tell which screens are theirs. ` +
    `Name the screens to place the fields on: projects.${keys[0]}.screens: [<screen id>, ...]`
  );
}
