import { ConfigError } from './engine/errors.ts';

/**
 * Runs a process entry point: a configuration error stops the process with one line naming the
 * variable (exit 2); SIGINT/SIGTERM (even one that arrives while starting) stop it cleanly, exit 0.
 */
export async function runEntry(start: () => Promise<{ stop(signal: string): Promise<void> }>): Promise<void> {
  const started = start();
  const onSignal = (signal: string) => {
    void started.then((s) => s.stop(signal)).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  try {
    await started;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`configuration error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}
