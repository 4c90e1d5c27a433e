/**
 * Sends the Jira sandbox's webhooks the way Jira Cloud's admin webhooks arrive: a JSON body,
 * `X-Atlassian-Webhook-Identifier` (the same on every retry of one delivery),
 * `X-Atlassian-Webhook-Retry` on retries, and `X-Hub-Signature: sha256=<hex HMAC of the raw body>`
 * when the webhook has a secret. Retries on 408, 409, 425, 429, 5xx, timeouts and connection
 * failures, up to 5 times; the delays are configurable so tests run in milliseconds.
 */
import { createHmac } from 'node:crypto';
import { parseJql, type JqlQuery } from './jql.ts';

/** Jira's retry budget for one delivery. */
export const MAX_WEBHOOK_RETRIES = 5;

/** Statuses after which Jira retries a delivery. */
export const RETRY_STATUSES = new Set([408, 409, 425, 429]);

/** A registered webhook. */
export interface WebhookRegistration {
  id: string;
  url: string;
  /** HMAC secret; deliveries are unsigned without one (as in Jira). Never rendered. */
  secret?: string;
  /** Subscribed events (`jira:issue_created`, ...); empty means all. */
  events: string[];
  /** JQL filter (sandbox subset), if any. */
  jql?: string;
  /** Parsed `jql`. */
  query?: JqlQuery;
}

/** One attempt of a delivery. */
export interface DeliveryAttempt {
  /** 0 for the first attempt, then the value of `X-Atlassian-Webhook-Retry`. */
  retry: number;
  status?: number;
  error?: string;
  at: Date;
  durationMs: number;
}

/** One delivery (one event to one webhook) and its attempts. */
export interface WebhookDelivery {
  identifier: string;
  webhookId: string;
  url: string;
  event: string;
  /** The exact bytes sent (what the signature covers). */
  body: string;
  attempts: DeliveryAttempt[];
  outcome: 'pending' | 'delivered' | 'failed' | 'gave-up';
}

/** Options of {@link WebhookSender}. */
export interface WebhookSenderOptions {
  /** Wait before retry n (index n-1); its length caps the retries (at most 5). Default 10, 20, 40, 80, 160 ms. */
  retryDelaysMs?: number[];
  /** Per-attempt timeout. Default 5,000 ms. */
  timeoutMs?: number;
  /**
   * Deliver each webhook's events one after another (default), or all at once like Jira, which
   * promises no order.
   */
  concurrent?: boolean;
}

/** `sha256=<hex>` of the body, keyed with the secret: the value of `X-Hub-Signature`. */
export function signWebhookBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Registers webhooks and delivers events to them with Jira's headers and retry rules. */
export class WebhookSender {
  readonly deliveries: WebhookDelivery[] = [];
  private readonly registrations = new Map<string, WebhookRegistration>();
  private readonly retryDelaysMs: number[];
  private readonly timeoutMs: number;
  private readonly concurrent: boolean;
  private readonly chains = new Map<string, Promise<void>>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly aborts = new Set<AbortController>();
  private nextWebhookId = 1;
  private identifierSeq = 0;
  private stopped = false;

  /** See {@link WebhookSenderOptions}. */
  constructor(options: WebhookSenderOptions = {}) {
    this.retryDelaysMs = (options.retryDelaysMs ?? [10, 20, 40, 80, 160]).slice(0, MAX_WEBHOOK_RETRIES);
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.concurrent = options.concurrent ?? false;
  }

  /** Registers a webhook; throws on a bad URL or JQL. */
  register(input: { url: string; secret?: string; events?: string[]; jql?: string }): WebhookRegistration {
    let url: URL;
    try {
      url = new URL(input.url);
    } catch {
      throw new Error('webhook url: not a valid URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('webhook url: must be http or https');
    const reg: WebhookRegistration = {
      id: String(this.nextWebhookId++),
      url: url.toString(),
      secret: input.secret || undefined,
      events: [...(input.events ?? [])],
      jql: input.jql || undefined,
      query: input.jql ? parseJql(input.jql) : undefined,
    };
    this.registrations.set(reg.id, reg);
    return reg;
  }

  /** Removes a webhook; returns whether it existed. */
  unregister(id: string): boolean {
    return this.registrations.delete(id);
  }

  /** Registered webhooks (secrets omitted). */
  list(): Array<Omit<WebhookRegistration, 'secret' | 'query'> & { signed: boolean }> {
    return [...this.registrations.values()].map(({ id, url, events, jql, secret }) => ({ id, url, events, jql, signed: Boolean(secret) }));
  }

  /**
   * Queues one event for every webhook subscribed to it whose JQL (if any) the issue matches.
   * The payload is serialized now, so later state changes do not leak into it.
   */
  dispatch(event: string, payload: Record<string, unknown>, matches: (query: JqlQuery) => boolean): WebhookDelivery[] {
    if (this.stopped) return [];
    const body = JSON.stringify(payload);
    const out: WebhookDelivery[] = [];
    for (const reg of this.registrations.values()) {
      if (reg.events.length && !reg.events.includes(event)) continue;
      if (reg.query && !matches(reg.query)) continue;
      const delivery: WebhookDelivery = { identifier: this.newIdentifier(), webhookId: reg.id, url: reg.url, event, body, attempts: [], outcome: 'pending' };
      this.deliveries.push(delivery);
      out.push(delivery);
      const run = () => this.deliver(reg, delivery);
      let p: Promise<void>;
      if (this.concurrent) {
        p = run();
      } else {
        p = (this.chains.get(reg.id) ?? Promise.resolve()).then(run);
        this.chains.set(reg.id, p);
      }
      this.inFlight.add(p);
      void p.finally(() => this.inFlight.delete(p));
    }
    return out;
  }

  /** Resolves when no delivery is pending (including retries). */
  async idle(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  /** Stops delivering: cancels waits and in-flight requests. */
  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const a of this.aborts) a.abort();
  }

  private newIdentifier(): string {
    // Jira's identifiers are long decimal strings; keep them unique and increasing.
    this.identifierSeq += 1;
    return (BigInt(Date.now()) * 100000n + BigInt(this.identifierSeq)).toString();
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

  private async deliver(reg: WebhookRegistration, delivery: WebhookDelivery): Promise<void> {
    for (let retry = 0; retry <= this.retryDelaysMs.length; retry++) {
      if (this.stopped) return;
      if (retry > 0) {
        await this.sleep(this.retryDelaysMs[retry - 1] ?? 0);
        if (this.stopped) return;
      }
      const headers: Record<string, string> = {
        'Content-Type': 'application/json; charset=UTF-8',
        'User-Agent': 'Atlassian Webhook HTTP Client',
        Accept: '*/*',
        'X-Atlassian-Webhook-Identifier': delivery.identifier,
        'X-Atlassian-Webhook-Flow': 'Primary',
      };
      if (retry > 0) headers['X-Atlassian-Webhook-Retry'] = String(retry);
      if (reg.secret) headers['X-Hub-Signature'] = signWebhookBody(reg.secret, delivery.body);
      const started = Date.now();
      const abort = new AbortController();
      this.aborts.add(abort);
      const timer = setTimeout(() => abort.abort(), this.timeoutMs);
      let status: number | undefined;
      let error: string | undefined;
      try {
        const res = await fetch(reg.url, { method: 'POST', headers, body: delivery.body, signal: abort.signal });
        status = res.status;
        await res.arrayBuffer().catch(() => undefined);
      } catch (err) {
        error = abort.signal.aborted ? `timed out after ${this.timeoutMs} ms` : ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message;
      } finally {
        clearTimeout(timer);
        this.aborts.delete(abort);
      }
      delivery.attempts.push({ retry, status, error, at: new Date(started), durationMs: Date.now() - started });
      if (status !== undefined && status >= 200 && status < 300) {
        delivery.outcome = 'delivered';
        return;
      }
      const retryable = status === undefined || status >= 500 || RETRY_STATUSES.has(status);
      if (!retryable) {
        delivery.outcome = 'failed';
        return;
      }
    }
    delivery.outcome = 'gave-up';
  }
}
