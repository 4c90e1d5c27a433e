import type { Config } from './config.ts';
import type { Logger } from './engine/logger.ts';
import { startRuntime, type Runtime } from './runtime.ts';

/** A running HTTP service. */
export interface RunningService {
  url: string;
  runtime: Runtime;
  close(): Promise<void>;
}

/** Serves the HTTP API and webhooks on HOST:PORT (PORT 0 picks a free port); runs workers when RUN_WORKERS. */
export async function startService(config: Config, logger: Logger): Promise<RunningService> {
  const runtime = await startRuntime({ config, logger, http: true });
  return { url: runtime.url!, runtime, close: () => runtime.close() };
}
