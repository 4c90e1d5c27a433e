import express, { type Router } from 'express';
import type { Redis } from 'ioredis';
import { UserError } from '../../engine/errors.ts';
import type { Logger } from '../../engine/logger.ts';
import type { Metrics } from '../../engine/metrics.ts';
import type { WorkflowQueues } from '../../queue/queues.ts';
import type { SurfaceAdapter } from '../surface.ts';
import { errorResponse } from './app.ts';

/** Dependencies of {@link webhookRouter}. */
export interface WebhookRouterDeps {
  adapters: Partial<Record<SurfaceAdapter['name'], SurfaceAdapter>>;
  queues: Pick<WorkflowQueues, 'addDelivery'>;
  redis: Redis;
  keyPrefix: string;
  logger: Logger;
  metrics: Metrics;
  /** Largest accepted body (default 1 MiB). */
  limit?: string;
  /** How long a delivery id is remembered for dedupe (default 7 days). */
  dedupeSeconds?: number;
}

const KEEP_HEADERS = /^(x-atlassian-|x-hub-signature|x-servicenow-|content-type|user-agent)/i;

/**
 * `POST /webhooks/:surface`: verifies the signature on the raw body before anything parses
 * it, drops a delivery it has already seen, durably enqueues the rest with the delivery id as
 * job id, and answers 202. Nothing else happens in the request.
 */
export function webhookRouter(deps: WebhookRouterDeps): Router {
  const r = express.Router();
  r.post('/webhooks/:surface', express.raw({ type: () => true, limit: deps.limit ?? '1mb' }), async (req, res) => {
    const started = process.hrtime.bigint();
    const surface = req.params.surface as SurfaceAdapter['name'];
    const adapter = deps.adapters[surface];
    if (!adapter) {
      res.status(404).json({ error: { code: 'not_found', message: `no surface "${surface}" is enabled` } });
      return;
    }
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    let deliveryId: string;
    try {
      deliveryId = adapter.verify(req.headers, body).deliveryId;
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      deps.metrics.inc('ts_webhooks_refused_total', 'Webhook deliveries refused', { surface, code: err.code });
      deps.logger.warn({ surface, code: err.code, problem: err.message }, 'webhook refused');
      const { body: b } = errorResponse(err);
      res.status(401).json(b);
      return;
    }
    const seenKey = `${deps.keyPrefix}delivery:${surface}:${deliveryId}`;
    const first = await deps.redis.set(seenKey, '1', 'EX', deps.dedupeSeconds ?? 7 * 24 * 3600, 'NX');
    if (!first) {
      deps.metrics.inc('ts_webhooks_duplicate_total', 'Retried deliveries dropped', { surface });
      res.status(202).json({ status: 'duplicate', delivery: deliveryId });
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (KEEP_HEADERS.test(k) && v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    try {
      await deps.queues.addDelivery({ surface, deliveryId, headers, body: body.toString('utf8'), receivedAt: new Date().toISOString() });
    } catch (err) {
      // Not queued: forget the id so the surface's retry is accepted.
      await deps.redis.del(seenKey);
      deps.logger.error({ surface, delivery: deliveryId, err }, 'enqueue failed');
      res.status(503).json({ error: { code: 'system', message: 'could not queue the delivery; retry' } });
      return;
    }
    deps.metrics.inc('ts_webhooks_accepted_total', 'Webhook deliveries queued', { surface });
    deps.metrics.observe('ts_webhook_ack_seconds', 'Time to acknowledge a delivery', Number(process.hrtime.bigint() - started) / 1e9, { surface });
    res.status(202).json({ status: 'queued', delivery: deliveryId });
  });
  return r;
}
