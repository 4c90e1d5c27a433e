import { configSecrets, loadConfig } from './config.ts';
import { createLogger } from './engine/logger.ts';
import { runEntry } from './entry.ts';
import { startService } from './service.ts';

// The HTTP service (API + webhooks), with the queue workers unless RUN_WORKERS=false.
await runEntry(async () => {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL, undefined, { secrets: configSecrets(config) });
  const service = await startService(config, logger);
  logger.info({ url: service.url }, 'ticket-surface listening');
  return {
    stop: async (signal) => {
      logger.info({ signal }, 'shutting down');
      await service.close();
    },
  };
});
