import { z } from 'zod';
import { loadConfigFile } from '../../engine/config-file.ts';

/** Status names of the request workflow in one Jira project. */
export const jiraStatusesSchema = z.object({
  open: z.string().min(1).default('Open'),
  needsInfo: z.string().min(1).default('Needs info'),
  planned: z.string().min(1).default('Planned'),
  awaitingApproval: z.string().min(1).default('Awaiting approval'),
  approved: z.string().min(1).default('Approved'),
  done: z.string().min(1).default('Done'),
  rejected: z.string().min(1).default('Rejected'),
  cancelled: z.string().min(1).default('Cancelled'),
});

/** One Jira project that carries requests. */
export const jiraProjectSchema = z.object({
  /** The ticket-surface project requests of this Jira project belong to. */
  project: z.string().regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, 'must be a ticket-surface project id (lowercase, hyphens)'),
  /**
   * Issue type name → what it carries: a fixed bundle, or (no bundle) the Bundle field decides.
   * `kind: question` issues are answered; `kind: drift` is where drift is filed as a new issue
   * per drift episode when policy says so (`drift.environments[].ticket: new`).
   */
  issueTypes: z.record(z.string(), z.object({ bundle: z.string().optional(), kind: z.enum(['request', 'question', 'drift']).default('request') })),
  /**
   * Ids of the screens the forms sync places the fields on. Default: the screens of the project's
   * request issue types, found through its issue type screen scheme and screen schemes (a
   * team-managed project has none: name its screens here).
   */
  screens: z.array(z.union([z.string().regex(/^\d+$/, 'must be a screen id'), z.number().int().positive()]).transform(String)).min(1).optional(),
  /**
   * Per-bundle mode: `forms sync` gives every bundle an issue type of its own in this project
   * (named by the bundle's form title, or the `issueTypes` entry naming that bundle), with a screen
   * and screen scheme showing only that bundle's questions, mapped in the project's issue type
   * screen scheme and added to its issue type scheme. Both schemes must be the project's own.
   */
  issueTypePerBundle: z.boolean().default(false),
  /** One screen by name (older configurations); `screens` takes ids and wins when both are set. */
  screen: z.string().optional(),
  statuses: jiraStatusesSchema.prefault({}),
  /**
   * Resolution sent when a transition screen into done, rejected or cancelled requires one (the
   * first the screen offers when it does not offer this one).
   */
  resolutions: z
    .object({ done: z.string().min(1).default('Done'), rejected: z.string().min(1).default("Won't Do"), cancelled: z.string().min(1).default("Won't Do") })
    .prefault({}),
  /** Approvals by moving the issue to the approved status, or through JSM approvals. */
  approval: z.enum(['status', 'jsm']).default('status'),
});

/**
 * The Jira surface's mapping (JIRA_CONFIG_FILE): which projects and issue types are requests,
 * and which status names the request states move the issue to.
 */
export const jiraSurfaceConfigSchema = z.object({
  projects: z.record(z.string().regex(/^[A-Z][A-Z0-9_]+$/, 'must be a Jira project key'), jiraProjectSchema),
  /** Environment used when a ticket's form has no environment question. */
  defaultEnvironment: z.string().optional(),
  /**
   * The Jira project whose tickets take admin commands (`/freeze`, `/unfreeze`); the workflow
   * checks the commenter's admin role. Absent: those commands are refused in every ticket.
   */
  adminProject: z.string().regex(/^[A-Z][A-Z0-9_]+$/, 'must be a Jira project key').optional(),
  /**
   * How long (seconds) a person's Jira user and groups are reused for the next check, so one
   * ticket's requester and approver checks ask Jira once each (default 30; 0: always ask). A person
   * deactivated in Jira is seen so at most this long after the answer was fetched.
   */
  directoryCacheSeconds: z.number().int().min(0).max(3600).optional(),
  /**
   * How long (seconds) the status an issue was last seen in, and the transitions of a workflow's
   * status, are reused when the service moves issues (default 300; 0: read the transitions at
   * every step). A workflow edited in Jira is seen at the latest this long after, or at once when
   * Jira refuses a remembered transition.
   */
  workflowCacheSeconds: z.number().int().min(0).max(3600).optional(),
});

/** Validated Jira surface configuration. */
export type JiraSurfaceConfig = z.infer<typeof jiraSurfaceConfigSchema>;
/** One project of {@link JiraSurfaceConfig}. */
export type JiraProjectConfig = z.infer<typeof jiraProjectSchema>;

/** Loads and validates this surface's mapping (JIRA_CONFIG_FILE). */
export function loadJiraConfig(path: string): Promise<JiraSurfaceConfig> {
  return loadConfigFile(path, 'JIRA_CONFIG_FILE', jiraSurfaceConfigSchema);
}
