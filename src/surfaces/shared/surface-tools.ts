/**
 * What the command line asks of a ticket surface outside the running service: sync the catalog
 * of forms onto it, show one bundle's form in its shapes, map a submission in its shapes back to
 * typed params, and say what a webhook delivery becomes. Each ticket surface implements it in
 * its own folder; the composition root hands the implementations to the CLI, so the CLI never
 * speaks a surface's words itself.
 */
import type { Config } from '../../config.ts';
import type { Logger } from '../../engine/logger.ts';
import type { Form, SubmitResult } from '../../forms/index.ts';
import type { OpenedEngine } from '../../workflow/bootstrap.ts';
import type { DoctorReport } from './doctor.ts';

/** The ticket surfaces that have tools. */
export type TicketSurfaceName = 'jira' | 'servicenow';

/** What a forms sync reports, whichever the surface. */
export interface SyncOutcome {
  created: string[];
  updated: string[];
  disabled: string[];
  /** Fields taken off places they no longer belong (Jira: another bundle's questions off a screen). */
  removed?: string[];
  writes: number;
}

/** One ticket surface's command-line tools. */
export interface TicketSurfaceTools {
  /** Shown in messages (`Jira`, `ServiceNow`). */
  readonly title: string;
  /** The variables a forms sync needs that `config` does not set. */
  missingConfig(config: Config): string[];
  /** Creates or updates the surface's fields or catalog items to match the bundles' forms. */
  syncForms(opened: OpenedEngine, config: Config, logger: Logger): Promise<SyncOutcome>;
  /** The surface's fields for `form`, as pretty JSON or as text. */
  renderForm(form: Form, text: boolean): string;
  /** The typed params a submission in the surface's shapes becomes, or its labelled problems. */
  formValues(form: Form, submitted: Record<string, unknown>): SubmitResult;
  /**
   * What a delivery becomes once verified (the signature is checked when the surface's webhook
   * secret is configured); throws a `UserError` saying why it is refused. Absent when the surface
   * has no such inspection.
   */
  inspectWebhook?(raw: Buffer, headers: Record<string, string>, config: Config): Promise<unknown>;
  /**
   * Reads the live site's set-up and reports what the service needs that it lacks, each with how
   * to fix it (see `shared/doctor.ts`); writes nothing. `now` is our clock, compared with the site's;
   * `engine`, when given, opens the engine for what the forms sync would publish (the catalog the
   * doctor expects). Absent when the surface has no doctor yet.
   */
  doctor?(config: Config, options: { logger: Logger; now: () => Date; engine?: () => Promise<OpenedEngine['engine']> }): Promise<DoctorReport>;
}

/** Loads one surface's tools on first use (so a command loads only the surface it names). */
export type SurfaceToolsLoader = (surface: TicketSurfaceName) => Promise<TicketSurfaceTools>;
