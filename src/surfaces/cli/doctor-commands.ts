/** `doctor --surface jira|servicenow`: a read-only check of a live site's set-up. */
import { createLogger } from '../../engine/logger.ts';
import { renderDoctorReport } from '../shared/doctor.ts';
import type { CommandContext } from './command.ts';

/**
 * `ticket-surface doctor --surface jira|servicenow [--json]`: reads the site named by the
 * surface's settings and prints each check that passed and each problem with how to fix it;
 * exit 1 when there is any problem, 2 when the command itself is wrong. Writes nothing.
 */
export async function doctor({ io, options, config, surfaceTools, json, engine }: CommandContext): Promise<number> {
  const surface = options.str('surface');
  if (surface !== 'jira' && surface !== 'servicenow') {
    io.err('usage: ticket-surface doctor --surface jira|servicenow [--json]');
    return 2;
  }
  const tools = await surfaceTools(surface);
  if (!tools.doctor) {
    io.err(`doctor: --surface ${surface} has no doctor yet`);
    return 2;
  }
  const missing = tools.missingConfig(config);
  if (missing.length) {
    io.err(`configuration error: ${missing.join(', ')}: required for doctor --surface ${surface}`);
    return 2;
  }
  const report = await tools.doctor(config, { logger: createLogger(io.env.LOG_LEVEL ?? 'warn'), now: () => new Date(), engine });
  if (json) io.out(JSON.stringify(report, null, 2));
  else for (const line of renderDoctorReport(report)) io.out(line);
  return report.problems.length ? 1 : 0;
}
