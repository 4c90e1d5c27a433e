/**
 * Forms: `forms sync` (onto a ticket surface) and `form render|values` (one bundle's form,
 * offline: they load neither Redis nor the workflow, which only `forms sync` imports).
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Config } from '../../config.ts';
import type { OpenedEngine } from '../../workflow/bootstrap.ts';
import { UserError, ValidationError } from '../../engine/errors.ts';
import { buildForm, loadOverlay, findOverlayFile, describeIssue, type Form } from '../../forms/index.ts';
import type { SurfaceToolsLoader, SyncOutcome, TicketSurfaceName, TicketSurfaceTools } from '../shared/surface-tools.ts';
import { registryForBundleDir } from './bundle-dir.ts';
import type { CommandContext } from './command.ts';
import type { CliIo } from './io.ts';

type TicketSurface = TicketSurfaceName;

function surfaceOf(v: unknown, io: CliIo): TicketSurface | undefined {
  if (v === 'jira' || v === 'servicenow') return v;
  io.err('--surface must be jira or servicenow');
  return undefined;
}

/** `forms sync ...` from the command table. */
export function formsSync({ argv, io, config, surfaceTools }: CommandContext): Promise<number> {
  return formsCommand(argv.slice(1), io, config, surfaceTools);
}

/** `form render|values ...` from the command table. */
export function form({ argv, io, config, surfaceTools }: CommandContext): Promise<number> {
  return formCommand(argv.slice(1), io, config, surfaceTools);
}

/**
 * `ticket-surface forms sync --surface jira|servicenow [--json]`: creates or updates the
 * surface's fields (Jira) or catalog items (ServiceNow) that are missing or different, prints
 * what it did and the number of write calls (0 when the surface already matches).
 */
export async function formsCommand(args: string[], io: CliIo, config: Config, loadTools: SurfaceToolsLoader): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, strict: false, options: { surface: { type: 'string' }, json: { type: 'boolean' } } });
  if (positionals[0] !== 'sync') {
    io.err('usage: ticket-surface forms sync --surface jira|servicenow [--json]');
    return 2;
  }
  const surface = surfaceOf(values.surface, io);
  if (!surface) return 2;
  const tools = await loadTools(surface);
  const missing = tools.missingConfig(config);
  if (missing.length) {
    io.err(`configuration error: ${missing.join(', ')}: required for forms sync --surface ${surface}`);
    return 2;
  }
  const [{ openEngine }, { createLogger }] = await Promise.all([import('../../workflow/bootstrap.ts'), import('../../engine/logger.ts')]);
  let opened: OpenedEngine | undefined;
  try {
    opened = await openEngine(config);
    const report = await tools.syncForms(opened, config, createLogger(io.env.LOG_LEVEL ?? 'warn'));
    printSyncReport(report, tools.title, values.json === true, io);
    return 0;
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    io.err(`error: ${err.message}`);
    return 1;
  } finally {
    await opened?.close();
  }
}

function printSyncReport(report: SyncOutcome, name: string, json: boolean, io: CliIo): void {
  if (json) {
    io.out(JSON.stringify(report, null, 2));
    return;
  }
  for (const c of report.created) io.out(`created  ${c}`);
  for (const u of report.updated) io.out(`updated  ${u}`);
  for (const d of report.disabled) io.out(`disabled ${d}`);
  for (const r of report.removed ?? []) io.out(`removed  ${r}`);
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
export async function formCommand(args: string[], io: CliIo, config: Config, loadTools: SurfaceToolsLoader): Promise<number> {
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
    const tools = await loadTools(surface);
    if (sub === 'render') {
      io.out(tools.renderForm(form, values.format === 'text'));
      return 0;
    }
    return formValues(form, tools, values.values, io);
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    io.err(`error: ${err.message}`);
    if (err instanceof ValidationError) for (const i of err.issues) io.err(`  ${i.file ?? ''}${i.line ? `:${i.line}` : ''}#${i.pointer} ${i.message}`);
    return 1;
  }
}

/** `form values`: the typed params a submission in the surface's shapes becomes, or each labelled problem (exit 1). */
function formValues(form: Form, tools: TicketSurfaceTools, file: unknown, io: CliIo): number {
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
  const result = tools.formValues(form, submitted);
  if (result.ok) {
    io.out(JSON.stringify(result.params, null, 2));
    return 0;
  }
  for (const i of result.issues) io.out(`✘ ${describeIssue(i)}`);
  return 1;
}
