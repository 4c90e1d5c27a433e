/** Forms: `forms sync` (onto a ticket surface) and `form render|values` (one bundle's form, offline). */
import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Config } from '../../config.ts';
import { openEngine, REPO_ROOT, type OpenedEngine } from '../../workflow/bootstrap.ts';
import { createLogger, type Logger } from '../../engine/logger.ts';
import { UserError, ValidationError } from '../../engine/errors.ts';
import { SurfaceIdStore } from '../../engine/surface-ids.ts';
import { QueryCatalog } from '../../workflow/queries.ts';
import { buildForm, loadOverlay, findOverlayFile, describeIssue, type Form } from '../../forms/index.ts';
import { FormCatalog } from '../../forms/catalog.ts';
import { EngineOptionSources } from '../../workflow/form-options.ts';
import { loadJiraConfig } from '../jira/config.ts';
import { loadServiceNowConfig } from '../servicenow/config.ts';
import { JiraClient } from '../jira/client.ts';
import { JiraFormsSync } from '../jira/forms-sync.ts';
import { renderJiraForm, renderJiraText } from '../jira/form-renderer.ts';
import { jiraValuesToParams } from '../jira/form-values.ts';
import { renderServiceNowForm, renderServiceNowText } from '../servicenow/form-renderer.ts';
import { serviceNowValuesToParams } from '../servicenow/form-values.ts';
import { ServiceNowClient } from '../servicenow/client.ts';
import { ServiceNowFormsSync, questionItem } from '../servicenow/forms-sync.ts';
import { registryForBundleDir } from './bundle-dir.ts';
import type { CommandContext } from './command.ts';
import type { CliIo } from './io.ts';

type TicketSurface = 'jira' | 'servicenow';

function surfaceOf(v: unknown, io: CliIo): TicketSurface | undefined {
  if (v === 'jira' || v === 'servicenow') return v;
  io.err('--surface must be jira or servicenow');
  return undefined;
}

/** What a sync reports, whichever the surface. */
interface SyncOutcome {
  created: string[];
  updated: string[];
  disabled: string[];
  writes: number;
}

/** `forms sync ...` from the command table. */
export function formsSync({ argv, io, config }: CommandContext): Promise<number> {
  return formsCommand(argv.slice(1), io, config);
}

/** `form render|values ...` from the command table. */
export function form({ argv, io, config }: CommandContext): Promise<number> {
  return formCommand(argv.slice(1), io, config);
}

/** The variables a forms sync onto `surface` needs that are not set. */
function missingSurfaceConfig(surface: TicketSurface, config: Config): string[] {
  return surface === 'jira'
    ? (['JIRA_BASE_URL', 'JIRA_EMAIL', 'JIRA_API_TOKEN'] as const).filter((k) => !config[k])
    : (['SERVICENOW_INSTANCE_URL', 'SERVICENOW_USER', 'SERVICENOW_PASSWORD'] as const).filter((k) => !config[k]);
}

/**
 * `ticket-surface forms sync --surface jira|servicenow [--json]`: creates or updates the
 * surface's fields (Jira) or catalog items (ServiceNow) that are missing or different, prints
 * what it did and the number of write calls (0 when the surface already matches).
 */
export async function formsCommand(args: string[], io: CliIo, config: Config): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, strict: false, options: { surface: { type: 'string' }, json: { type: 'boolean' } } });
  if (positionals[0] !== 'sync') {
    io.err('usage: ticket-surface forms sync --surface jira|servicenow [--json]');
    return 2;
  }
  const surface = surfaceOf(values.surface, io);
  if (!surface) return 2;
  const missing = missingSurfaceConfig(surface, config);
  if (missing.length) {
    io.err(`configuration error: ${missing.join(', ')}: required for forms sync --surface ${surface}`);
    return 2;
  }
  let opened: OpenedEngine | undefined;
  try {
    opened = await openEngine(config);
    const report = await syncForms(surface, opened, config, createLogger(io.env.LOG_LEVEL ?? 'warn'));
    printSyncReport(report, surface, values.json === true, io);
    return 0;
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    io.err(`error: ${err.message}`);
    return 1;
  } finally {
    await opened?.close();
  }
}

/** Runs one forms sync onto `surface` with the surface's configured client. */
async function syncForms(surface: TicketSurface, opened: OpenedEngine, config: Config, logger: Logger): Promise<SyncOutcome> {
  const formsDir = isAbsolute(config.FORMS_DIR) ? config.FORMS_DIR : join(REPO_ROOT, config.FORMS_DIR);
  const shared = {
    ids: new SurfaceIdStore(opened.redis.redis, config.REDIS_PREFIX),
    forms: new FormCatalog(opened.engine.registry, formsDir),
    options: new EngineOptionSources(opened.engine),
    logger,
  };
  if (surface === 'jira') {
    return new JiraFormsSync({
      ...shared,
      client: new JiraClient({ baseUrl: config.JIRA_BASE_URL!, email: config.JIRA_EMAIL!, apiToken: config.JIRA_API_TOKEN!, logger }),
      config: await loadJiraConfig(config.JIRA_CONFIG_FILE ?? 'examples/jira-config.yaml'),
    }).sync();
  }
  const snConfig = await loadServiceNowConfig(config.SERVICENOW_CONFIG_FILE ?? join(REPO_ROOT, 'examples', 'servicenow-config.yaml'));
  return new ServiceNowFormsSync({
    ...shared,
    client: new ServiceNowClient({ instanceUrl: config.SERVICENOW_INSTANCE_URL!, user: config.SERVICENOW_USER!, password: config.SERVICENOW_PASSWORD!, logger }),
    publish: snConfig.catalog,
    extraItems: () => [questionItem(new QueryCatalog(opened.engine).list())],
  }).sync();
}

function printSyncReport(report: SyncOutcome, surface: TicketSurface, json: boolean, io: CliIo): void {
  if (json) {
    io.out(JSON.stringify(report, null, 2));
    return;
  }
  const name = surface === 'jira' ? 'Jira' : 'ServiceNow';
  for (const c of report.created) io.out(`created  ${c}`);
  for (const u of report.updated) io.out(`updated  ${u}`);
  for (const d of report.disabled) io.out(`disabled ${d}`);
  io.out(`${report.writes} write call${report.writes === 1 ? '' : 's'}${report.writes === 0 ? `: ${name} already matches the catalog` : ''}`);
}

/** The form of the bundle in `dir`, with its overlay (`--overlay`, or the one in FORMS_DIR). */
async function formOf(dir: string, overlay: string | undefined, io: CliIo, config: Config): Promise<Form> {
  const { bundle, issues } = await registryForBundleDir(config, io.cwd).loadBundle(resolve(io.cwd, dir));
  if (!bundle) throw new ValidationError(`bundle ${dir} does not load`, issues);
  const formsDir = isAbsolute(config.FORMS_DIR) ? config.FORMS_DIR : resolve(io.cwd, config.FORMS_DIR);
  const file = overlay ? resolve(io.cwd, overlay) : await findOverlayFile(formsDir, bundle.name);
  return buildForm(bundle, file ? await loadOverlay(file) : undefined);
}

const FORM_USAGE =
  'usage: ticket-surface form render <bundle-dir> [--overlay file] --surface jira|servicenow [--format json|text]\n       ticket-surface form values <bundle-dir> --surface jira|servicenow --values file.json';

/** `ticket-surface form render|values <bundle-dir> ...`. */
export async function formCommand(args: string[], io: CliIo, config: Config): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: false,
    options: { surface: { type: 'string' }, overlay: { type: 'string' }, format: { type: 'string' }, values: { type: 'string' } },
  });
  const [sub, dir] = positionals;
  const surface = surfaceOf(values.surface, io);
  if (!surface || (sub !== 'render' && sub !== 'values') || !dir) {
    io.err(FORM_USAGE);
    return 2;
  }
  try {
    const form = await formOf(dir, typeof values.overlay === 'string' ? values.overlay : undefined, io, config);
    if (sub === 'render') return renderForm(form, surface, values.format === 'text', io);
    return formValues(form, surface, values.values, io);
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    io.err(`error: ${err.message}`);
    if (err instanceof ValidationError) for (const i of err.issues) io.err(`  ${i.file ?? ''}${i.line ? `:${i.line}` : ''}#${i.pointer} ${i.message}`);
    return 1;
  }
}

/** `form render`: the surface's fields for the form, as JSON or text. */
function renderForm(form: Form, surface: TicketSurface, text: boolean, io: CliIo): number {
  if (surface === 'jira') {
    const spec = renderJiraForm(form);
    io.out(text ? renderJiraText(spec) : JSON.stringify(spec, null, 2));
  } else {
    const spec = renderServiceNowForm(form);
    io.out(text ? renderServiceNowText(spec) : JSON.stringify(spec, null, 2));
  }
  return 0;
}

/** `form values`: the typed params a submission in the surface's shapes becomes, or each labelled problem (exit 1). */
function formValues(form: Form, surface: TicketSurface, file: unknown, io: CliIo): number {
  if (typeof file !== 'string') {
    io.err('--values file.json is required');
    return 2;
  }
  let submitted: Record<string, unknown>;
  try {
    submitted = JSON.parse(readFileSync(resolve(io.cwd, file), 'utf8')) as Record<string, unknown>;
  } catch (e) {
    io.err(`--values ${file}: ${(e as Error).message}`);
    return 2;
  }
  const result = surface === 'jira' ? jiraValuesToParams(form, submitted) : serviceNowValuesToParams(form, submitted as Record<string, string>);
  if (result.ok) {
    io.out(JSON.stringify(result.params, null, 2));
    return 0;
  }
  for (const i of result.issues) io.out(`✘ ${describeIssue(i)}`);
  return 1;
}
