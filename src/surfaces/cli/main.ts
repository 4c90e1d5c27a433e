/**
 * The `ticket-surface` command line: reads the command line, finds the command in the table
 * ({@link COMMANDS}), loads the configuration and runs it. What it needs from the running
 * service (the workflow with the ticket surfaces) comes from the composition root, `src/cli.ts`.
 */
import type { Config } from '../../config.ts';
import { BundleError, ConfigError, UserError, ValidationError } from '../../engine/errors.ts';
import type { OpenedEngine } from '../../workflow/bootstrap.ts';
import type { CliCommand, CliDeps, CommandContext } from './command.ts';
import { COMMANDS, findCommand, helpText } from './commands.ts';
import { issueLine, type CliIo } from './io.ts';
import { parseCommandLine, type CliOptions } from './options.ts';
import { userInfo } from 'node:os';

export { COMMANDS };
export type { CliDeps };

/** Runs the CLI on `argv` (the words after `ticket-surface`); resolves to the exit code. */
export async function main(argv: string[], deps: CliDeps): Promise<number> {
  const { io } = deps;
  const { positionals, options } = parseCommandLine(argv);
  if (options.flag('help')) {
    io.out(helpText());
    return 0;
  }
  if (positionals.length === 0) {
    if (options.flag('version')) {
      io.out(deps.version);
      return 0;
    }
    io.out(helpText());
    return 2;
  }
  const found = findCommand(positionals);
  if (!found) {
    io.err(`unknown command: ${positionals.join(' ')}\n\n${helpText()}`);
    return 2;
  }
  const config = await readConfig(io);
  if (!config) return 2;
  const args = positionals.slice(found.name.split(' ').length);
  return runCommand(found.command, { argv, args, options, config }, deps);
}

/** The configuration from the environment, or undefined after printing what is wrong with it. */
async function readConfig(io: CliIo): Promise<Config | undefined> {
  const { loadConfig } = await import('../../config.ts');
  try {
    return loadConfig(io.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(`configuration error: ${err.message}`);
    return undefined;
  }
}

/**
 * Who runs the CLI: the operating-system user. The CLI acts only as the person the directory
 * maps that user to (`cli` id); to act as someone else, call the API with their token.
 */
export function cliUser(io: CliIo): string {
  return io.env.USER || io.env.LOGNAME || userInfo().username;
}

/**
 * Runs one command with the engine opened on first use (and closed after); a {@link UserError}
 * is printed with its problems, exit 1. Anything else is a bug or an outage and propagates.
 */
async function runCommand(command: CliCommand, line: { argv: string[]; args: string[]; options: CliOptions; config: Config }, deps: CliDeps): Promise<number> {
  const { io } = deps;
  const { options, config } = line;
  if (options.str('as') !== undefined) {
    io.err(`--as is not accepted: the CLI acts as the operating-system user "${cliUser(io)}", as the directory maps them; to act as another person, use the API with their token`);
    return 2;
  }
  let opened: OpenedEngine | undefined;
  const ctx: CommandContext = {
    ...line,
    io,
    json: options.flag('json'),
    actor: { actor: cliUser(io), surface: 'cli' },
    engine: async () => {
      const { openEngine } = await import('../../workflow/bootstrap.ts');
      return (opened ??= await openEngine(config)).engine;
    },
    openWorkflow: deps.openWorkflow,
    openTrust: deps.openTrust,
    surfaceTools: deps.surfaceTools,
  };
  try {
    return await command.run(ctx);
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    io.err(`error: ${err.message}`);
    if (err instanceof ValidationError || err instanceof BundleError) for (const i of err.issues) io.err(`  ${issueLine(i, io.cwd)}`);
    return 1;
  } finally {
    await opened?.close();
  }
}
