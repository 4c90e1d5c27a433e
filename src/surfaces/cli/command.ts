import type { Config } from '../../config.ts';
import type { AuditContext } from '../../engine/audit.ts';
import type { OpenedEngine } from '../../workflow/bootstrap.ts';
import type { RequestRecovery } from '../../workflow/recovery.ts';
import type { RequestWorkflow } from '../../workflow/workflow.ts';
import type { Authorizer } from '../../workflow/authorize.ts';
import type { DriftDesk } from '../../workflow/drift.ts';
import type { TokenStore } from '../../workflow/tokens.ts';
import type { FreezeDesk } from '../../workflow/freeze.ts';
import type { StackDesk } from '../../workflow/stacks.ts';
import type { CliIo } from './io.ts';
import type { CliOptions } from './options.ts';
import type { SurfaceToolsLoader } from '../shared/surface-tools.ts';

/** The engine facade the commands call. */
export type CliEngine = OpenedEngine['engine'];

/**
 * The request workflow running with the ticket surfaces attached (no HTTP, no workers), so an
 * approval or rejection made from the CLI is posted to the ticket it came from.
 */
export interface OpenedWorkflow {
  workflow: Pick<RequestWorkflow, 'approve' | 'close' | 'submit'>;
  /** Freezing and lifting environments, as the CLI user's person (`freeze`, `unfreeze`). */
  freezes?: Pick<FreezeDesk, 'freeze' | 'unfreeze'>;
  /** Finds requests waiting without an owner (read-only here: the workers' sweep resumes them). */
  recovery: Pick<RequestRecovery, 'stuck'>;
  /** Drift checks (`drift check`); absent where the process has no drift desk. */
  drift?: Pick<DriftDesk, 'check'>;
  /** Stacks and their leases (`stack ...`); absent where the process serves none. */
  stacks?: Pick<StackDesk, 'request' | 'extend' | 'resume'>;
  /** Who the CLI user is (their principal, for the admin-only commands and drift checks). */
  authorizer?: Pick<Authorizer, 'cliPrincipal' | 'require' | 'actorOf'>;
  close(): Promise<void>;
}

/** Opens the workflow for one command; the composition root provides it. */
export type OpenWorkflow = (config: Config, options: { logLevel: string }) => Promise<OpenedWorkflow>;

/**
 * Who may do what, as the service decides it: the authorizer (the CLI's principal is the
 * operating-system user's person, `authorizer.cliPrincipal(user)`), the API tokens and the
 * engine, for the commands an admin runs (`token ...`, `package show --reveal`).
 */
export interface OpenedTrust {
  authorizer: Pick<Authorizer, 'cliPrincipal' | 'require'>;
  tokens: Pick<TokenStore, 'create' | 'list' | 'revoke'>;
  engine: Pick<CliEngine, 'revealPackage'>;
  close(): Promise<void>;
}

/** Opens {@link OpenedTrust} for one command; the composition root provides it. */
export type OpenTrust = (config: Config, options: { logLevel: string }) => Promise<OpenedTrust>;

/** What the composition root gives the CLI. */
export interface CliDeps {
  io: CliIo;
  /** The version `--version` prints. */
  version: string;
  openWorkflow: OpenWorkflow;
  openTrust: OpenTrust;
  /** Each ticket surface's command-line tools (forms sync, form render, webhook inspect). */
  surfaceTools: SurfaceToolsLoader;
}

/** Everything one command needs to run. */
export interface CommandContext {
  io: CliIo;
  /** The command line after `ticket-surface`, as typed. */
  argv: string[];
  /** The positional words after the command's name. */
  args: string[];
  options: CliOptions;
  /** `--json`: print JSON instead of text. */
  json: boolean;
  config: Config;
  /** Who acts: the operating-system user, on the cli surface; written into the audit log. */
  actor: AuditContext;
  /** The engine, opened on first use and closed when the command ends. */
  engine(): Promise<CliEngine>;
  openWorkflow: OpenWorkflow;
  openTrust: OpenTrust;
  surfaceTools: SurfaceToolsLoader;
}

/** Runs a command; resolves to the exit code. */
export type CommandRun = (ctx: CommandContext) => Promise<number>;

/** One row of the command table. */
export interface CliCommand {
  /** Usage lines after `ticket-surface`, the first starting with the command's name. */
  usage: string[];
  /** What it does, one or more lines for `--help`. */
  summary: string[];
  run: CommandRun;
}

/**
 * A {@link CommandRun} that loads its module on first run, so `--help` (and every other
 * command) does not load what a command needs.
 */
export function lazy<M extends Record<K, CommandRun>, K extends string>(load: () => Promise<M>, name: K): CommandRun {
  return async (ctx) => (await load())[name](ctx);
}
