/**
 * Delivers the ServiceNow sandbox's webhooks the way the shipped Script Action does: `POST <url>`
 * with the JSON body, `Content-Type: application/json`, `X-ServiceNow-Event-Id`, and
 * `X-ServiceNow-Signature: sha256=<hex HMAC-SHA256 of the raw body>` when a secret is set (Basic
 * auth instead when only a user and password are set; nothing at all when neither is set, as
 * the script drops such a webhook). Retries on 5xx and connection failures,
 * up to {@link MAX_WEBHOOK_ATTEMPTS} attempts in all; the waits are configurable so tests run in
 * milliseconds.
 */
import { createHmac } from 'node:crypto';

/** Attempts per delivery (first try included), as in the script. */
export const MAX_WEBHOOK_ATTEMPTS = 3;

/** Where and how webhooks go. */
export interface WebhookTarget {
  url: string;
  /** HMAC secret (`x_ticket_surface.secret`). Never rendered. */
  secret?: string;
  /** Basic-auth fallback (`x_ticket_surface.basic_user` / `.basic_password`), used without a secret. */
  basic?: { username: string; password: string };
}

/** One attempt. */
export interface DeliveryAttempt {
  attempt: number;
  status?: number;
  error?: string;
  at: Date;
  durationMs: number;
}

/** One delivery and its attempts. */
export interface WebhookDelivery {
  eventId: string;
  event: string;
  url: string;
  /** The exact bytes sent (what the signature covers). */
  body: string;
  /** Headers of the first attempt (the Authorization value is masked). */
  headers: Record<string, string>;
  attempts: DeliveryAttempt[];
  outcome: 'pending' | 'delivered' | 'failed' | 'gave-up';
}

/** `sha256=<hex>`: the value of `X-ServiceNow-Signature` for a body. */
export function signServiceNowBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Options of {@link ServiceNowWebhookSender}. */
export interface ServiceNowWebhookSenderOptions {
  /** Waits before attempt 2 and 3 (ms). Default 10, 20. */
  retryDelaysMs?: number[];
  /** Per-attempt timeout (ms). Default 5,000. */
  timeoutMs?: number;
}

/** Sends deliveries one after another (the platform's event queue is processed in order). */
export class ServiceNowWebhookSender {
  readonly deliveries: WebhookDelivery[] = [];
  private readonly retryDelaysMs: number[];
  private readonly timeoutMs: number;
  private chain: Promise<void> = Promise.resolve();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly aborts = new Set<AbortController>();
  private stopped = false;

  /** See {@link ServiceNowWebhookSenderOptions}. */
  constructor(options: ServiceNowWebhookSenderOptions = {}) {
    this.retryDelaysMs = (options.retryDelaysMs ?? [10, 20]).slice(0, MAX_WEBHOOK_ATTEMPTS - 1);
    this.timeoutMs = options.timeoutMs ?? 5_000;
  }

  /** Queues one body for the target; returns the delivery record. */
  send(target: WebhookTarget, event: string, eventId: string, body: string): WebhookDelivery {
    const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/json', 'X-ServiceNow-Event-Id': eventId };
    if (target.secret) headers['X-ServiceNow-Signature'] = signServiceNowBody(target.secret, body);
    else if (target.basic) headers.Authorization = `Basic ${Buffer.from(`${target.basic.username}:${target.basic.password}`).toString('base64')}`;
    const delivery: WebhookDelivery = {
      eventId,
      event,
      url: target.url,
      body,
      headers: { ...headers, ...(headers.Authorization ? { Authorization: 'Basic ***' } : {}) },
      attempts: [],
      outcome: 'pending',
    };
    this.deliveries.push(delivery);
    // The script drops a webhook it can neither sign nor authenticate.
    if (!target.secret && !target.basic) {
      delivery.outcome = 'failed';
      return delivery;
    }
    if (this.stopped) return delivery;
    const p = this.chain.then(() => this.deliver(target.url, headers, delivery));
    this.chain = p;
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    return delivery;
  }

  /** Resolves when nothing is pending (retries included). */
  async idle(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  /** Stops: cancels waits and in-flight requests. */
  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const a of this.aborts) a.abort();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }

  private async deliver(url: string, headers: Record<string, string>, delivery: WebhookDelivery): Promise<void> {
    for (let attempt = 1; attempt <= this.retryDelaysMs.length + 1; attempt++) {
      if (this.stopped) return;
      if (attempt > 1) {
        await this.sleep(this.retryDelaysMs[attempt - 2] ?? 0);
        if (this.stopped) return;
      }
      const started = Date.now();
      const abort = new AbortController();
      this.aborts.add(abort);
      const timer = setTimeout(() => abort.abort(), this.timeoutMs);
      let status: number | undefined;
      let error: string | undefined;
      try {
        const res = await fetch(url, { method: 'POST', headers, body: delivery.body, signal: abort.signal });
        status = res.status;
        await res.arrayBuffer().catch(() => undefined);
      } catch (err) {
        error = abort.signal.aborted ? `timed out after ${this.timeoutMs} ms` : (((err as Error).cause as Error | undefined)?.message ?? (err as Error).message);
      } finally {
        clearTimeout(timer);
        this.aborts.delete(abort);
      }
      delivery.attempts.push({ attempt, status, error, at: new Date(started), durationMs: Date.now() - started });
      if (status !== undefined && status >= 200 && status < 300) {
        delivery.outcome = 'delivered';
        return;
      }
      if (status !== undefined && status < 500) {
        delivery.outcome = 'failed';
        return;
      }
    }
    delivery.outcome = 'gave-up';
  }
}
