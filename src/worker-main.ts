import { configSecrets, loadConfig } from './config.ts';
import { createLogger } from './engine/logger.ts';
import { runEntry } from './entry.ts';
import { startRuntime } from './runtime.ts';

// A worker process: the intake, request and outbox queues, no HTTP.
await runEntry(async () => {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL, undefined, { secrets: configSecrets(config) });
  const runtime = await startRuntime({ config, logger, http: false, workers: true });
  logger.info('ticket-surface worker running');
  return {
    stop: async (signal) => {
      logger.info({ signal }, 'shutting down');
      await runtime.close();
    },
  };
});
