import { loadConfig } from './config.ts';
import { ConfigError } from './engine/errors.ts';
import { createLogger } from './engine/logger.ts';
import { startService } from './service.ts';

// Entry point of the HTTP service (API + webhooks). Exits with one line naming the variable
// when configuration is missing or invalid.
try {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  const service = await startService(config, logger);
  logger.info({ url: service.url }, 'ticket-surface listening');
  const stop = async (signal: string) => {
    logger.info({ signal }, 'shutting down');
    await service.close();
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
