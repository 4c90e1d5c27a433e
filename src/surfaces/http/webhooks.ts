import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type Router } from 'express';
import { UserError } from '../../engine/errors.ts';
import type { Logger } from '../../engine/logger.ts';
import type { Metrics } from '../../engine/metrics.ts';
import type { DeliveryOutcome, WorkflowQueues } from '../../queue/queues.ts';
import type { InboundHeaders, SurfaceAdapter } from '../surface.ts';
import { errorResponse } from './app.ts';
import type { components } from './openapi-types.ts';

/** Dependencies of {@link WebhookDoor} (and {@link webhookRouter}). */
export interface WebhookRouterDeps {
  adapters: Partial<Record<SurfaceAdapter['name'], SurfaceAdapter>>;
  queues: Pick<WorkflowQueues, 'addDelivery'>;
  logger: Logger;
  metrics: Metrics;
  /** Largest accepted body (default 1 MiB), as `100kb` or `1mb` (units of 1,024). */
  limit?: string;
}

const KEEP_HEADERS = /^(x-atlassian-|x-hub-signature|x-servicenow-|content-type|user-agent)/i;

type Surface = SurfaceAdapter['name'];
type ErrorBody = components['schemas']['Error'];

/** What the door answers a delivery: an HTTP status and its JSON body. */
interface Answer {
  status: number;
  body: unknown;
}

/** A 400 answer naming what is wrong with a verified delivery. */
function malformed(message: string): ErrorBody {
  return { error: { code: 'validation', message } };
}

/** The headers the intake keeps with a delivery (signature, identifiers, content type). */
function keptHeaders(headers: InboundHeaders): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const k in headers) {
    const v = headers[k];
    if (v !== undefined && KEEP_HEADERS.test(k)) kept[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return kept;
}

/** Writes `answer` as JSON, with the headers Express's `res.json` writes. */
function send(res: ServerResponse, answer: Answer): void {
  const json = JSON.stringify(answer.body);
  res.writeHead(answer.status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(json) });
  res.end(json);
}

/** `limit` (`512`, `100kb`, `1mb`, ...; units of 1,024) in bytes, as body-parser reads it. */
export function byteLimit(limit: string | undefined): number {
  if (limit === undefined) return 1024 * 1024;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(limit);
  if (!m) throw new TypeError(`webhook body limit "${limit}" is not a size like 100kb or 1mb`);
  const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(m[2] ?? 'b').toLowerCase() as 'b'];
  return Math.floor(Number(m[1]) * unit);
}

/**
 * A body that could not be read, shaped as body-parser's errors are (an HTTP `status` and a
 * `type`) so {@link errorResponse} answers it exactly as it answers theirs.
 */
class BodyReadError extends Error {
  readonly status: number;
  readonly type: string;
  constructor(status: number, type: string) {
    super(type);
    this.status = status;
    this.type = type;
  }
}

/**
 * Reads a request's raw body, at most `limit` bytes, as `express.raw` does for an unencoded
 * body: a declared or received length over the limit is 413 `entity.too.large`; a body shorter
 * than declared, or a request aborted or failing mid-body, is 400.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length'];
    const length = declared === undefined ? undefined : Number(declared);
    if (length !== undefined && length > limit) return reject(new BodyReadError(413, 'entity.too.large'));
    const chunks: Buffer[] = [];
    let received = 0;
    const stop = (err?: BodyReadError) => {
      req.off('data', onData).off('end', onEnd).off('close', onClose).off('error', onError);
      if (err) reject(err);
      else if (length !== undefined && received !== length) reject(new BodyReadError(400, 'request.size.invalid'));
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) stop(new BodyReadError(413, 'entity.too.large'));
      else chunks.push(chunk);
    };
    const onEnd = () => stop();
    const onClose = () => stop(new BodyReadError(400, 'request.aborted'));
    const onError = () => stop(new BodyReadError(400, 'request.aborted'));
    req.on('data', onData).on('end', onEnd).on('close', onClose).on('error', onError);
  });
}

/** Reads off (and drops) what is left of a request's body, as body-parser does before answering an error. */
function drain(req: IncomingMessage): Promise<void> {
  if (req.complete || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    req.once('end', resolve).once('close', resolve);
    req.resume();
  });
}

/** `POST /webhooks/<surface>` with a body the door reads itself (no content encoding); the surface, else undefined. */
const FAST_PATH = /^\/webhooks\/([a-z]+)(?:\?|$)/;

/**
 * The webhook door, `POST /webhooks/:surface`: verifies the signature on the raw body before
 * anything parses it, checks the body is JSON and names its delivery, and durably enqueues it
 * with a job id derived from surface and delivery id, answering 202. A delivery the adapter
 * recognises as the echo of the service's own write is answered 202 "ignored" and not queued.
 * The job id is the only dedupe key: a delivery whose job exists is answered 202 "duplicate";
 * one whose enqueue failed (or never happened, the process died) has no job, so the surface's
 * retry is queued. Nothing else happens in the request.
 *
 * Served two ways with the same answers: {@link WebhookDoor.router} inside the Express app, and
 * {@link WebhookDoor.ahead}, which takes deliveries on the raw `node:http` request before
 * Express (a delivery is the service's hottest path and needs nothing Express offers).
 */
export class WebhookDoor {
  private readonly limit: number;

  constructor(private readonly deps: WebhookRouterDeps) {
    this.limit = byteLimit(deps.limit);
  }

  /** The door as an Express router (bodies in any content encoding Express inflates). */
  router(): Router {
    const r = express.Router();
    r.post('/webhooks/:surface', express.raw({ type: () => true, limit: this.limit }), async (req, res) => {
      const started = process.hrtime.bigint();
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      send(res, await this.answer(req.params.surface as Surface, req.headers, body, started));
    });
    return r;
  }

  /**
   * A request listener that serves `POST /webhooks/<enabled surface>` (unencoded bodies) itself
   * and hands every other request to `app`, which mounts {@link router} for the rest. It records
   * the same request-duration metric as the app; an unexpected error is answered 500, as the app
   * answers it.
   */
  ahead(app: RequestListener): RequestListener {
    return (req, res) => {
      const surface = req.method === 'POST' ? FAST_PATH.exec(req.url ?? '')?.[1] : undefined;
      const encoding = req.headers['content-encoding'];
      if (surface === undefined || !Object.hasOwn(this.deps.adapters, surface) || (encoding !== undefined && encoding.toLowerCase() !== 'identity')) {
        app(req, res);
        return;
      }
      const started = process.hrtime.bigint();
      this.serve(req, res, surface as Surface, started).then(
        () => this.timed(res, started),
        (err: unknown) => {
          const { status, body } = errorResponse(err);
          if (status >= 500) this.deps.logger.error({ err, path: `/webhooks/${surface}` }, 'request failed');
          if (!res.headersSent) send(res, { status, body });
          else res.destroy();
          this.timed(res, started);
        },
      );
    };
  }

  /** Reads the body of one delivery and answers it. */
  private async serve(req: IncomingMessage, res: ServerResponse, surface: Surface, started: bigint): Promise<void> {
    let body: Buffer;
    try {
      body = await readBody(req, this.limit);
    } catch (err) {
      await drain(req);
      throw err;
    }
    send(res, await this.answer(surface, req.headers, body, started));
  }

  /** Records the request's duration under the route label the Express app gives the door. */
  private timed(res: ServerResponse, started: bigint): void {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.deps.metrics.observe('ts_http_request_duration_seconds', 'HTTP request duration', seconds, { method: 'POST', route: '/webhooks/:surface', status: String(res.statusCode) });
  }

  /** What the door answers one delivery of `surface` (its headers and raw body). */
  private async answer(surface: Surface, headers: InboundHeaders, body: Buffer, started: bigint): Promise<Answer> {
    const { deps } = this;
    const adapter = Object.hasOwn(deps.adapters, surface) ? deps.adapters[surface] : undefined;
    if (!adapter) return { status: 404, body: { error: { code: 'not_found', message: `no surface "${surface}" is enabled` } } };
    const verified = this.verified(adapter, headers, body);
    if ('status' in verified) return verified;
    const { deliveryId, payload, text } = verified;
    if (adapter.isOwnEcho?.(payload)) {
      deps.metrics.inc('ts_webhooks_own_echo_total', 'Echoes of the service’s own writes dropped at the door', { surface });
      return { status: 202, body: { status: 'ignored', delivery: deliveryId, reason: 'caused by ticket-surface itself' } };
    }
    let outcome: DeliveryOutcome;
    try {
      outcome = await deps.queues.addDelivery({ surface, deliveryId, headers: keptHeaders(headers), body: text, receivedAt: new Date().toISOString() });
    } catch (err) {
      // Not queued, so no job holds the id: the surface's retry will be accepted.
      deps.logger.error({ surface, delivery: deliveryId, err }, 'enqueue failed');
      return { status: 503, body: { error: { code: 'system', message: 'could not queue the delivery; retry' } } };
    }
    if (outcome === 'duplicate') {
      deps.metrics.inc('ts_webhooks_duplicate_total', 'Retried deliveries dropped', { surface });
      return { status: 202, body: { status: 'duplicate', delivery: deliveryId } };
    }
    deps.metrics.inc('ts_webhooks_accepted_total', 'Webhook deliveries queued', { surface });
    deps.metrics.observe('ts_webhook_ack_seconds', 'Time to acknowledge a delivery', Number(process.hrtime.bigint() - started) / 1e9, { surface });
    return { status: 202, body: { status: 'queued', delivery: deliveryId } };
  }

  /**
   * Verifies a delivery on its raw body through the surface's adapter and returns its delivery
   * id and body (as text and parsed, once), or the refusal: 401 when verification fails, 400 when
   * the adapter says the delivery is malformed (code `validation`), 400 when the signed body is
   * not JSON or carries no delivery id. Nothing is queued in those cases.
   */
  private verified(adapter: SurfaceAdapter, headers: InboundHeaders, body: Buffer): { deliveryId: string; payload: unknown; text: string } | Answer {
    let deliveryId: string;
    try {
      deliveryId = adapter.verify(headers, body).deliveryId;
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      return this.refuse(adapter.name, err.code === 'validation' ? 400 : 401, errorResponse(err).body);
    }
    if (typeof deliveryId !== 'string' || deliveryId.trim() === '') {
      return this.refuse(adapter.name, 400, malformed('the delivery carries no delivery identifier; it is the dedupe key of every delivery'));
    }
    const text = body.toString('utf8');
    try {
      return { deliveryId, payload: JSON.parse(text) as unknown, text };
    } catch {
      return this.refuse(adapter.name, 400, malformed('the delivery body is not JSON'));
    }
  }

  /** A refused delivery, counted and logged: 401 for a failed verification, 400 for one that cannot be read. */
  private refuse(surface: Surface, status: 400 | 401, answer: ErrorBody): Answer {
    const { code, message } = answer.error;
    this.deps.metrics.inc('ts_webhooks_refused_total', 'Webhook deliveries refused', { surface, code });
    this.deps.logger.warn({ surface, code, problem: message }, 'webhook refused');
    return { status, body: answer };
  }
}

/** The webhook door ({@link WebhookDoor}) as an Express router. */
export function webhookRouter(deps: WebhookRouterDeps): Router {
  return new WebhookDoor(deps).router();
}
