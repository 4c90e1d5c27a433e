/**
 * Composition root of the `ticket-surface` command line (run by `bin/ticket-surface.mjs`): gives
 * the CLI its output, the package version and a way to open the request workflow with the ticket
 * surfaces attached, so an approval made from the CLI is posted to its ticket, and the service's
 * authorizer and API tokens, for the commands only an admin may run. Nothing imports
 * this module; it loads the runtime only when a command needs the workflow.
 */
import { readFileSync } from 'node:fs';
import type { Config } from './config.ts';
import { main as runCli, type CliDeps } from './surfaces/cli/main.ts';
import type { OpenedTrust, OpenedWorkflow } from './surfaces/cli/command.ts';
import type { Runtime } from './runtime.ts';
import { defaultIo, type CliIo } from './surfaces/cli/io.ts';
import type { TicketSurfaceName, TicketSurfaceTools } from './surfaces/shared/surface-tools.ts';

export type { CliIo };

/** The `version` of package.json. */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
}

/** The service with its ticket surfaces, without HTTP or workers. */
async function openService(config: Config, options: { logLevel: string }): Promise<Runtime> {
  const { startRuntime } = await import('./runtime.ts');
  const { createLogger } = await import('./engine/logger.ts');
  return startRuntime({ config, logger: createLogger(options.logLevel), http: false, workers: false });
}

/** The workflow of a service with its ticket surfaces, without HTTP or workers. */
function openWorkflow(config: Config, options: { logLevel: string }): Promise<OpenedWorkflow> {
  return openService(config, options);
}

/** The service's authorizer, API tokens and engine, for the commands only an admin may run. */
async function openTrust(config: Config, options: { logLevel: string }): Promise<OpenedTrust> {
  const rt = await openService(config, options);
  return { authorizer: rt.authorizer, tokens: rt.tokens, engine: rt.opened.engine, close: () => rt.close() };
}

/** Each ticket surface's command-line tools, loaded only by the command that names the surface. */
export async function loadSurfaceTools(surface: TicketSurfaceName): Promise<TicketSurfaceTools> {
  if (surface === 'jira') return (await import('./surfaces/jira/tools.ts')).jiraTools;
  return (await import('./surfaces/servicenow/tools.ts')).serviceNowTools;
}

/**
 * Runs `ticket-surface <argv>`; resolves to the exit code. A system error (Jira or ServiceNow
 * down, a 401 from a site, Redis unreachable) is one line naming what failed, exit 1: the stack
 * is for developers and is printed only with LOG_LEVEL=debug or trace.
 */
export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const deps: CliDeps = { io, version: packageVersion(), openWorkflow, openTrust, surfaceTools: loadSurfaceTools };
  try {
    return await runCli(argv, deps);
  } catch (err) {
    io.err(`error: ${systemErrorLine(err)}`);
    if (/^(debug|trace)$/.test(io.env.LOG_LEVEL ?? '') && err instanceof Error && err.stack) io.err(err.stack);
    return 1;
  }
}

/** One line for an error the CLI did not expect: its class or code and its message, no stack. */
function systemErrorLine(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  const kind = typeof code === 'string' && code !== err.name ? `${err.name} (${code})` : err.name;
  const message = err.message.split('\n')[0] || 'no message';
  return `${kind}: ${message}`;
}
