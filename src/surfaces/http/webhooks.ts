import express, { type Request, type Response, type Router } from 'express';
import { UserError } from '../../engine/errors.ts';
import type { Logger } from '../../engine/logger.ts';
import type { Metrics } from '../../engine/metrics.ts';
import type { DeliveryOutcome, WorkflowQueues } from '../../queue/queues.ts';
import type { SurfaceAdapter } from '../surface.ts';
import { errorResponse } from './app.ts';
import type { components } from './openapi-types.ts';

/** Dependencies of {@link webhookRouter}. */
export interface WebhookRouterDeps {
  adapters: Partial<Record<SurfaceAdapter['name'], SurfaceAdapter>>;
  queues: Pick<WorkflowQueues, 'addDelivery'>;
  logger: Logger;
  metrics: Metrics;
  /** Largest accepted body (default 1 MiB). */
  limit?: string;
}

const KEEP_HEADERS = /^(x-atlassian-|x-hub-signature|x-servicenow-|content-type|user-agent)/i;

type Surface = SurfaceAdapter['name'];
type ErrorBody = components['schemas']['Error'];

/** Answers a refused delivery: 401 for a failed verification, 400 for a delivery that cannot be read. */
function refuse(deps: WebhookRouterDeps, res: Response, surface: Surface, status: 400 | 401, answer: ErrorBody): void {
  const { code, message } = answer.error;
  deps.metrics.inc('ts_webhooks_refused_total', 'Webhook deliveries refused', { surface, code });
  deps.logger.warn({ surface, code, problem: message }, 'webhook refused');
  res.status(status).json(answer);
}

/** A 400 answer naming what is wrong with a verified delivery. */
function malformed(message: string): ErrorBody {
  return { error: { code: 'validation', message } };
}

/** A verified delivery: its id (the dedupe key) and its parsed body. */
interface VerifiedDelivery {
  deliveryId: string;
  payload: unknown;
}

/**
 * Verifies a delivery on its raw body through the surface's adapter and returns its delivery id
 * and parsed body, or answers and returns undefined: 401 when verification fails, 400 when the
 * adapter says the delivery is malformed (code `validation`), 400 when the signed body is not
 * JSON or carries no delivery id. Nothing is queued in those cases.
 */
function verifiedDelivery(deps: WebhookRouterDeps, adapter: SurfaceAdapter, req: Request, res: Response, body: Buffer): VerifiedDelivery | undefined {
  let deliveryId: string;
  try {
    deliveryId = adapter.verify(req.headers, body).deliveryId;
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    refuse(deps, res, adapter.name, err.code === 'validation' ? 400 : 401, errorResponse(err).body);
    return undefined;
  }
  if (typeof deliveryId !== 'string' || deliveryId.trim() === '') {
    refuse(deps, res, adapter.name, 400, malformed('the delivery carries no delivery identifier; it is the dedupe key of every delivery'));
    return undefined;
  }
  let payload: unknown;
  try {
    payload = JSON.parse(body.toString('utf8'));
  } catch {
    refuse(deps, res, adapter.name, 400, malformed('the delivery body is not JSON'));
    return undefined;
  }
  return { deliveryId, payload };
}

/** The headers the intake keeps with a delivery (signature, identifiers, content type). */
function keptHeaders(req: Request): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (KEEP_HEADERS.test(k) && v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  return headers;
}

/**
 * `POST /webhooks/:surface`: verifies the signature on the raw body before anything parses
 * it, checks the body is JSON and names its delivery, and durably enqueues it with a job id
 * derived from surface and delivery id, answering 202. A delivery the adapter recognises as the
 * echo of the service's own write is answered 202 "ignored" and not queued. The job id is the
 * only dedupe key: a delivery whose job exists is answered 202 "duplicate"; one whose enqueue
 * failed (or never happened, the process died) has no job, so the surface's retry is queued.
 * Nothing else happens in the request.
 */
export function webhookRouter(deps: WebhookRouterDeps): Router {
  const r = express.Router();
  r.post('/webhooks/:surface', express.raw({ type: () => true, limit: deps.limit ?? '1mb' }), async (req, res) => {
    const started = process.hrtime.bigint();
    const surface = req.params.surface as Surface;
    const adapter = deps.adapters[surface];
    if (!adapter) {
      res.status(404).json({ error: { code: 'not_found', message: `no surface "${surface}" is enabled` } });
      return;
    }
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const verified = verifiedDelivery(deps, adapter, req, res, body);
    if (verified === undefined) return;
    const { deliveryId } = verified;
    if (adapter.isOwnEcho?.(verified.payload)) {
      deps.metrics.inc('ts_webhooks_own_echo_total', 'Echoes of the service’s own writes dropped at the door', { surface });
      res.status(202).json({ status: 'ignored', delivery: deliveryId, reason: 'caused by ticket-surface itself' });
      return;
    }
    let outcome: DeliveryOutcome;
    try {
      outcome = await deps.queues.addDelivery({ surface, deliveryId, headers: keptHeaders(req), body: body.toString('utf8'), receivedAt: new Date().toISOString() });
    } catch (err) {
      // Not queued, so no job holds the id: the surface's retry will be accepted.
      deps.logger.error({ surface, delivery: deliveryId, err }, 'enqueue failed');
      res.status(503).json({ error: { code: 'system', message: 'could not queue the delivery; retry' } });
      return;
    }
    if (outcome === 'duplicate') {
      deps.metrics.inc('ts_webhooks_duplicate_total', 'Retried deliveries dropped', { surface });
      res.status(202).json({ status: 'duplicate', delivery: deliveryId });
      return;
    }
    deps.metrics.inc('ts_webhooks_accepted_total', 'Webhook deliveries queued', { surface });
    deps.metrics.observe('ts_webhook_ack_seconds', 'Time to acknowledge a delivery', Number(process.hrtime.bigint() - started) / 1e9, { surface });
    res.status(202).json({ status: 'queued', delivery: deliveryId });
  });
  return r;
}
