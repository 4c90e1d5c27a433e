/**
 * What both demo stories (Jira and ServiceNow) share: the clock they run on and say they run on,
 * printing only what a person has not read yet, and `--keep`, which leaves the service, the
 * sandbox and the data running with the commands to poke at them.
 */
import type { Config } from '../config.ts';

/** The demo clock's start: a Tuesday, 10:00 in Berlin. */
export const DEMO_START = new Date('2026-11-24T09:00:00Z');

/** The line that says which clock the service runs on, and why. */
export const CLOCK_LINE =
  '  clock: the service runs on a demo clock that starts on Tue 2026-11-24 10:00 Europe/Berlin (09:00 UTC) ' +
  'and ticks at real speed, so the staging change window (Mon-Fri 07:00-20:00 Berlin) is open whatever the time is now';

/** `--keep` on the command line. */
export function wantsKeep(argv: readonly string[]): boolean {
  return argv.includes('--keep');
}

/**
 * The lines of `text` a person has not been shown yet (the first line, the header, always),
 * remembering them in `shown`: an edited status comment prints what changed, not the result a
 * comment above already printed.
 */
export function unseenLines(text: string, shown: Set<string>): string[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const out = lines.filter((l, i) => i === 0 || !shown.has(l.trim()));
  for (const l of lines) shown.add(l.trim());
  return out;
}

/** What `--keep` prints: where everything runs and the commands to try, for a second terminal. */
export function keepInstructions(config: Config, packageId: string, urls: { service: string; sandbox: string }): string[] {
  const env = `REDIS_URL=${config.REDIS_URL ?? ''} REDIS_PREFIX=${config.REDIS_PREFIX} DATA_DIR=${config.DATA_DIR}`;
  return [
    '',
    'Kept running (--keep): the service, its workers, the sandbox, Redis and PostgreSQL.',
    `  service: ${urls.service}    sandbox: ${urls.sandbox}`,
    '  In another terminal, from this folder (revealing secrets is for admins: as Quinn, the directory\'s admin):',
    `    USER=quinn ${env} npx ticket-surface package show ${packageId} --reveal`,
    `    ${env} npx ticket-surface audit list`,
    `    ${env} npx ticket-surface query most-expensive`,
    '  Press Ctrl-C to stop everything and remove the demo data.',
  ];
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilStopped(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

/** The closing hint when the demo does not keep its data. */
export const KEEP_HINT = 'The demo removes its data when it ends: run `npm run demo -- --keep` to keep everything running and try the commands it prints.';
