import { z } from 'zod';
import { loadConfigFile } from '../../engine/config-file.ts';

/**
 * The ServiceNow surface's mapping (SERVICENOW_CONFIG_FILE): which ticket-surface project
 * requested items belong to, where catalog items are published, which journal the requester and
 * the people working the item read, when production changes open a `change_request`, and which
 * blackout schedules count as change blackouts.
 */
export const serviceNowSurfaceConfigSchema = z.object({
  /** The ticket-surface project requested items belong to. */
  project: z.string().regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, 'must be a ticket-surface project id (lowercase, hyphens)'),
  /** Environment used when a catalog item has no environment question. */
  defaultEnvironment: z.string().optional(),
  /**
   * The service's webhook URL as the instance must post to it (`https://<service>/webhooks/servicenow`);
   * `doctor` compares the `x_ticket_surface.url` property with it (unset: only its path is checked).
   */
  webhookUrl: z.url().optional(),
  /** Where the forms sync publishes catalog items (sc_catalog and sc_category, by title or sys_id). */
  catalog: z.object({ catalog: z.string().optional(), category: z.string().optional() }).prefault({}),
  /** Longest work note written (characters); longer ones are shortened by dropping detail. */
  workNoteLimit: z.number().int().min(500).default(32_000),
  /**
   * Which journal each audience reads. `requester`: answers to questions, refusals the
   * requester must act on, results (default `comments`, the additional comments the requester
   * sees). `internal`: the plan, policy, approvals and states (default `work_notes`).
   */
  journal: z
    .object({
      requester: z.enum(['comments', 'work_notes']).default('comments'),
      internal: z.enum(['comments', 'work_notes']).default('work_notes'),
    })
    .prefault({}),
  /** Normal change requests for requests into environments labelled `production: true`. */
  changes: z
    .object({
      enabled: z.boolean().default(true),
      /** Assignment group of the change (name or sys_id). */
      assignmentGroup: z.string().optional(),
      category: z.string().default('Software'),
    })
    .prefault({}),
  /** cmn_schedule_blackout spans as extra change blackouts. */
  blackouts: z
    .object({
      enabled: z.boolean().default(true),
      /** Which environments they apply to: production ones (labelled `production: true`), or all. */
      environments: z.enum(['production', 'all']).default('production'),
      /** How long schedules read from the instance are reused (ms). */
      cacheMs: z.number().int().min(0).default(30_000),
    })
    .prefault({}),
  /**
   * How long (seconds) a person's user and groups, and an approver group's members, are reused
   * for the next check, so one requested item's checks ask the instance once each (default 30;
   * 0: always ask). A person deactivated or a member added is seen at most this long after.
   */
  directoryCacheSeconds: z.number().int().min(0).max(3600).default(30),
});

/** Validated ServiceNow surface configuration. */
export type ServiceNowSurfaceConfig = z.infer<typeof serviceNowSurfaceConfigSchema>;

/** Loads and validates this surface's mapping (SERVICENOW_CONFIG_FILE). */
export function loadServiceNowConfig(path: string): Promise<ServiceNowSurfaceConfig> {
  return loadConfigFile(path, 'SERVICENOW_CONFIG_FILE', serviceNowSurfaceConfigSchema);
}
