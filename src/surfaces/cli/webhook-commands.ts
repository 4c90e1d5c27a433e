import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Config } from '../../config.ts';
import { UserError, ValidationError } from '../../engine/errors.ts';
import type { SurfaceToolsLoader } from '../shared/surface-tools.ts';
import type { CommandContext } from './command.ts';
import type { CliIo } from './io.ts';

/** `webhook inspect --surface jira <payload.json> [--headers headers.json]`, from the command line. */
export async function webhookInspect({ io, args, options, config, surfaceTools }: CommandContext): Promise<number> {
  const headers = options.str('headers');
  return inspectWebhook({ surface: options.str('surface') ?? 'jira', payload: args[0], headers }, io, config, surfaceTools);
}

/**
 * `ticket-surface webhook inspect --surface jira <payload.json> [--headers headers.json]`:
 * what a delivery becomes, or why it is refused, for people setting up their webhook. The
 * signature is checked when JIRA_WEBHOOK_SECRET is set (as the service would).
 */
export async function inspectWebhook(args: { surface: string; payload?: string; headers?: string }, io: CliIo, config: Config, loadTools: SurfaceToolsLoader): Promise<number> {
  if (args.surface !== 'jira') {
    io.err(`webhook inspect: --surface ${args.surface} is not supported (jira)`);
    return 2;
  }
  if (!args.payload) {
    io.err('usage: ticket-surface webhook inspect --surface jira <payload.json> [--headers headers.json]');
    return 2;
  }
  let raw: Buffer;
  let headers: Record<string, string> = {};
  try {
    raw = readFileSync(resolve(io.cwd, args.payload));
    if (args.headers) {
      const h = JSON.parse(readFileSync(resolve(io.cwd, args.headers), 'utf8')) as Record<string, unknown>;
      for (const [k, v] of Object.entries(h)) headers[k.toLowerCase()] = Array.isArray(v) ? String(v[0]) : String(v);
    }
  } catch (e) {
    io.err(`refused: cannot read input: ${(e as Error).message}`);
    return 1;
  }
  try {
    const tools = await loadTools('jira');
    const event = await tools.inspectWebhook!(raw, headers, config);
    io.out(JSON.stringify(event, null, 2));
    return 0;
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    io.out(`refused: ${err.message}`);
    if (err instanceof ValidationError) for (const i of err.issues) io.out(`  ${i.pointer || '(root)'}: ${i.message}`);
    return 1;
  }
}
