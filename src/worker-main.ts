import { loadConfig } from './config.ts';
import { ConfigError } from './engine/errors.ts';
import { createLogger } from './engine/logger.ts';
import { startRuntime } from './runtime.ts';

// Entry point of a worker process: runs the intake, request and outbox queues, no HTTP.
try {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  const runtime = await startRuntime({ config, logger, http: false, workers: true });
  logger.info('ticket-surface worker running');
  const stop = async (signal: string) => {
    logger.info({ signal }, 'shutting down');
    await runtime.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`configuration error: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
