import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config.ts';
import { openEngine, type OpenedEngine } from './engine/bootstrap.ts';
import type { Logger } from './engine/logger.ts';
import { Metrics } from './engine/metrics.ts';
import { createHttpApp } from './surfaces/http/app.ts';

/** A running HTTP service. */
export interface RunningService {
  url: string;
  opened: OpenedEngine;
  metrics: Metrics;
  close(): Promise<void>;
}

/** Opens the engine and serves the HTTP API on HOST:PORT (PORT 0 picks a free port). */
export async function startService(config: Config, logger: Logger): Promise<RunningService> {
  const opened = await openEngine(config);
  for (const issue of opened.bundleIssues) logger.warn({ file: issue.file, pointer: issue.pointer, problem: issue.message }, 'bundle skipped');
  const metrics = new Metrics();
  const app = createHttpApp({ engine: opened.engine, redis: opened.redis.redis, logger, metrics });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(config.PORT, config.HOST, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${config.HOST}:${port}`,
    opened,
    metrics,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await opened.close();
    },
  };
}
