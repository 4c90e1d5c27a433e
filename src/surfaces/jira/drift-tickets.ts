/**
 * Drift filed as a new Jira issue, when policy says so for the package's environment: one issue
 * per drift episode, in the project and issue type the Jira configuration marks `kind: drift`.
 * The issue is found again (never created twice when the same drift is seen again) first by the
 * id store, then by a label derived from the episode key, so a crash between creating it and
 * remembering it finds the issue Jira already holds. The issue carries a property naming the
 * package, so `/drift` commented on it decides on that package's drift. A package filed from
 * the CLI or the API (no ticket of its own) gets its drift issue here too; one filed in
 * ServiceNow keeps writing on its requested item.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { SurfaceIdStore } from '../../engine/surface-ids.ts';
import type { JiraClient } from './client.ts';
import type { JiraSurfaceConfig } from './config.ts';

/** The issue property naming the package (and episode) a drift issue is about. */
export const DRIFT_PROPERTY = 'ticket-surface.drift';

/** Where drift issues are created: a project key and an issue type of kind `drift`. */
export interface DriftIssueTarget {
  project: string;
  issueType: string;
}

/** The drift issue type of `config` (the first issue type of kind `drift`), or undefined. */
export function driftIssueTarget(config: JiraSurfaceConfig): DriftIssueTarget | undefined {
  for (const [project, p] of Object.entries(config.projects)) {
    const type = Object.entries(p.issueTypes).find(([, t]) => t.kind === 'drift');
    if (type) return { project, issueType: type[0] };
  }
  return undefined;
}

/** The label a drift episode's issue is found again by (Jira labels hold no spaces). */
export function driftLabel(episode: string): string {
  return `ts-drift-${createHash('sha256').update(episode).digest('hex').slice(0, 20)}`;
}

const createdSchema = z.looseObject({ key: z.string() });
const searchSchema = z.looseObject({ issues: z.array(z.looseObject({ key: z.string().optional(), id: z.string() })) });
const propertySchema = z.looseObject({ package: z.string() });

/** Finds or creates the issue of a drift episode; reads the package a drift issue is about. */
export class JiraDriftTickets {
  constructor(
    private readonly client: JiraClient,
    private readonly target: DriftIssueTarget,
    private readonly ids: SurfaceIdStore,
  ) {}

  /**
   * The key of the issue of drift episode `episode` (`<package>@<start>`) on package `pkg`:
   * the one created before, else a new one whose summary and description say what drifted.
   */
  async issueFor(episode: string, pkg: string, link?: string): Promise<string> {
    const idKey = `drift-episode:${episode}`;
    const known = await this.ids.get('jira', idKey);
    if (known) return known;
    const label = driftLabel(episode);
    const found = await this.client.api('POST', '/rest/api/3/search/jql', searchSchema, {
      data: { jql: `project = ${this.target.project} AND labels = "${label}"`, fields: ['key'], maxResults: 1 },
    });
    const key = found.issues[0]?.key ?? (await this.create(episode, pkg, label, link));
    await this.ids.set('jira', idKey, key);
    return key;
  }

  private async create(episode: string, pkg: string, label: string, link?: string): Promise<string> {
    const since = episode.slice(episode.lastIndexOf('@') + 1);
    const text = `Reality changed on ${pkg} outside ticket-surface (first seen ${since.slice(0, 16).replace('T', ' ')} UTC).${link ? ` The package came from ${link}.` : ''} Decide on each field with /drift in a comment here.`;
    const created = await this.client.api('POST', '/rest/api/3/issue', createdSchema, {
      data: {
        fields: {
          project: { key: this.target.project },
          issuetype: { name: this.target.issueType },
          summary: `Drift on ${pkg}`,
          labels: [label],
          description: { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text }] }] },
        },
        properties: [{ key: DRIFT_PROPERTY, value: { package: pkg, episode } }],
      },
    });
    return created.key;
  }

  /** The package drift issue `ref` is about, or undefined when it is no drift issue. */
  async packageOf(ref: string): Promise<string | undefined> {
    const value = await this.client.getIssueProperty(ref, DRIFT_PROPERTY);
    const parsed = propertySchema.safeParse(value);
    return parsed.success ? parsed.data.package : undefined;
  }
}
