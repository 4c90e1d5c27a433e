/**
 * One way to call a ticket system (Jira, ServiceNow) for every client: rate limits (429) are
 * waited out in-process for short `Retry-After`s and surfaced as a retryable error for long ones
 * (so the outbox schedules the retry instead of blocking a worker), and every other failure is
 * classified the same way into the system's own typed errors (see `remote-errors.ts`). Errors
 * never carry the request config (and so never an Authorization header) as their cause.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { AxiosError } from 'axios';
import type { z } from 'zod';
import type { ErrorCode } from '../../engine/errors.ts';
import type { Logger } from '../../engine/logger.ts';

/** The connection settings {@link directHttp} gives an axios client. */
export interface DirectHttpSettings {
  httpAgent: HttpAgent;
  httpsAgent: HttpsAgent;
  /** 0: a redirect is answered to the caller as what it is, never followed. */
  maxRedirects: 0;
}

/** One pair of keep-alive agents per process, shared by every ticket system client. */
let sharedAgents: { httpAgent: HttpAgent; httpsAgent: HttpsAgent } | undefined;

/**
 * Settings for an axios client of a ticket system's REST API (spread them into `axios.create`, or
 * into jira.js's `baseRequestConfig`): connections kept alive and reused across calls, and
 * redirects not followed. These APIs answer where they are asked and never redirect, so a
 * redirect is an answer like any other non-2xx one (it fails the call and surfaces as the
 * system's error). Without `maxRedirects: 0` axios wraps every request in follow-redirects,
 * whose per-call bookkeeping was a visible share of a worker's CPU per ticket.
 */
export function directHttp(): DirectHttpSettings {
  sharedAgents ??= {
    // As node's global agents: an idle socket is closed after 5 s, before servers commonly close it.
    httpAgent: new HttpAgent({ keepAlive: true, keepAliveMsecs: 1_000, timeout: 5_000, scheduling: 'lifo' }),
    httpsAgent: new HttpsAgent({ keepAlive: true, keepAliveMsecs: 1_000, timeout: 5_000, scheduling: 'lifo' }),
  };
  return { ...sharedAgents, maxRedirects: 0 };
}

/** What went wrong in one call, whatever the HTTP library said. */
export interface RemoteFailure {
  /** HTTP status; undefined when no answer came (network, timeout). */
  status?: number;
  /** How long the system asks to wait (its `Retry-After`, or what its own headers say), in milliseconds from now. */
  retryAfterMs?: number;
  /** Which of the system's limits answered 429, in its own words (Jira's `RateLimit-Reason`). */
  rateLimitReason?: string;
  /** The system's own error texts, sanitized. */
  messages: string[];
  /** A short description for logs and errors (never a credential). */
  detail: string;
}

/** The typed errors of one system: each client keeps its own names (JiraApiError ...). */
export interface RemoteErrorFactory {
  /** The system refused the request itself (400, 403, 404, 409 ...). */
  api(code: ErrorCode, status: number, operation: string, messages: string[]): Error;
  /** Our credentials were refused (401). */
  auth(operation: string): Error;
  /** Down, slow or unreachable (5xx, 408, 425, network). */
  unavailable(operation: string, status: number | undefined, detail: string, options?: { cause?: unknown }): Error;
  /** Still 429 after what the client waits for itself. */
  rateLimited(operation: string, retryAfterMs: number): Error;
}

/** How long a client waits out rate limits itself (every field has a default). */
export interface RateLimitOptions {
  /** Attempts per call when the system answers 429 (default 4). */
  maxAttempts?: number;
  /** Longest `Retry-After` waited in-process (default 10 s); longer ones throw the rate-limited error. */
  maxInlineWaitMs?: number;
  /** Backoff base when 429 has no Retry-After (default 500 ms, doubling). */
  baseDelayMs?: number;
  /** Injected for tests that want to observe waits; defaults to setTimeout. */
  sleep?: (ms: number) => Promise<void>;
}

/** What a {@link RateLimiter} knows of one call. */
export interface CallScope {
  /** The operation, `METHOD /path/{template}` (one endpoint and method). */
  op: string;
  /** True for calls that change something (not GET or HEAD). */
  write: boolean;
  /** The record the call is about (a Jira issue key), for limits per record. */
  subject?: string;
}

/**
 * Which calls a rate limit holds back, for a system whose limits have scopes (one endpoint, one
 * record, the whole site): a client that knows them supplies one; without it only the call that
 * met the 429 waits.
 */
export interface RateLimiter {
  /** How long `call` must wait before it goes (0: now); may reserve a slot when writes are paced. */
  delay(call: CallScope): number;
  /** Records a 429 answered to `call`, whose wait is `waitMs`. */
  limited(call: CallScope, failure: RemoteFailure, waitMs: number): void;
  /** Records that `call` went through. */
  passed(call: CallScope): void;
}

/** Settings of {@link RemoteCaller}. */
export interface RemoteCallerOptions extends RateLimitOptions {
  /** Lower-case system name for log lines (`jira`, `servicenow`). */
  system: string;
  logger: Logger;
  errors: RemoteErrorFactory;
  /** Turns whatever the HTTP library threw into a {@link RemoteFailure}. */
  describe: (err: unknown) => RemoteFailure;
  /** Holds calls back by the scope of the limits met (default: none, only the limited call waits). */
  limiter?: RateLimiter;
}

/** Runs the calls of one client: waits out short 429s and maps every failure to a typed error. */
export class RemoteCaller {
  private readonly maxAttempts: number;
  private readonly maxInlineWaitMs: number;
  private readonly baseDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: RemoteCallerOptions) {
    this.maxAttempts = options.maxAttempts ?? 4;
    this.maxInlineWaitMs = options.maxInlineWaitMs ?? 10_000;
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /**
   * Runs `fn` (operation `op`, as error messages name it) until it answers or fails for good.
   * `scope` says what the call writes (default: a write unless `op` is a GET or HEAD) and the
   * record it is about, for a limiter that paces per record.
   */
  async call<T>(op: string, fn: () => Promise<T>, scope: { write?: boolean; subject?: string } = {}): Promise<T> {
    const { system, logger, errors, limiter } = this.options;
    const call: CallScope = { op, write: scope.write ?? !/^(GET|HEAD) /.test(op), ...(scope.subject ? { subject: scope.subject } : {}) };
    let waited = false;
    for (let attempt = 1; ; attempt++) {
      if (!waited) await this.holdBack(call);
      waited = false;
      try {
        const result = await fn();
        limiter?.passed(call);
        return result;
      } catch (err) {
        const failure = this.options.describe(err);
        if (failure.status !== 429) throw this.toError(op, failure, err);
        const wait = failure.retryAfterMs ?? this.baseDelayMs * 2 ** (attempt - 1);
        limiter?.limited(call, failure, wait);
        const reason = failure.rateLimitReason;
        if (attempt >= this.maxAttempts || wait > this.maxInlineWaitMs) {
          logger.warn({ op, attempt, retryAfterMs: wait, ...(reason ? { reason } : {}) }, `${system} rate limit: giving up for now`);
          throw errors.rateLimited(op, wait);
        }
        logger.warn({ op, attempt, retryAfterMs: wait, ...(reason ? { reason } : {}) }, `${system} rate limit: waiting`);
        await this.sleep(wait);
        waited = true;
      }
    }
  }

  /** Waits while the limiter holds `call` back; a hold longer than the inline wait throws the rate-limited error. */
  private async holdBack(call: CallScope): Promise<void> {
    const pause = this.options.limiter?.delay(call) ?? 0;
    if (pause <= 0) return;
    if (pause > this.maxInlineWaitMs) {
      this.options.logger.warn({ op: call.op, retryAfterMs: pause }, `${this.options.system} rate limit: held back, retry later`);
      throw this.options.errors.rateLimited(call.op, pause);
    }
    await this.sleep(pause);
  }

  private toError(op: string, f: RemoteFailure, cause: unknown): Error {
    const { system, logger, errors } = this.options;
    if (f.status === undefined) {
      logger.warn({ op, detail: f.detail }, `${system} unreachable`);
      return errors.unavailable(op, undefined, f.detail, { cause: stripCause(cause) });
    }
    if (f.status >= 500 || f.status === 408 || f.status === 425) {
      logger.warn({ op, status: f.status }, `${system} unavailable`);
      return errors.unavailable(op, f.status, f.messages.join('; ') || 'server error');
    }
    if (f.status === 401) {
      logger.error({ op, status: f.status }, `${system} rejected the credentials`);
      return errors.auth(op);
    }
    const code: ErrorCode = f.status === 403 ? 'forbidden' : f.status === 404 ? 'not_found' : f.status === 409 ? 'conflict' : 'validation';
    return errors.api(code, f.status, op, f.messages);
  }
}

/**
 * The failure of an axios call (`axiosErr`, possibly unwrapped from `err` by the caller):
 * status, `Retry-After` and the system's messages read from its answer by `messagesOf`.
 */
export function axiosFailure(axiosErr: AxiosError | undefined, err: unknown, messagesOf: (data: unknown) => string[]): RemoteFailure {
  const response = axiosErr?.response;
  if (!response) return { messages: [], detail: axiosErr ? (axiosErr.code ?? 'network error') : err instanceof Error ? err.name : 'unknown error' };
  const headers = response.headers as Record<string, unknown>;
  return { status: response.status, retryAfterMs: parseRetryAfter(headers['retry-after']), messages: messagesOf(response.data), detail: `HTTP ${response.status}` };
}

/** Retry-After in seconds or as an HTTP date → milliseconds from now. */
export function parseRetryAfter(value: unknown, now = Date.now()): number | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const s = String(value).trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const at = Date.parse(s);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Axios errors carry the request config (with the Authorization header); keep only a summary.
 * An error wrapping an axios error (a library's own exception) is summarized by what it wraps.
 */
function stripCause(err: unknown): unknown {
  if (err instanceof AxiosError) return new Error(`${err.code ?? 'network error'}: ${err.message}`);
  if (err instanceof Error && err.cause instanceof AxiosError) return stripCause(err.cause);
  return err instanceof Error ? new Error(err.message) : undefined;
}

/**
 * Parses an answer with `schema`; a body of the wrong shape becomes the error `wrongShape` makes
 * from the first problem (`<prefix>/path message`).
 */
export function parseAnswer<S extends z.ZodType>(schema: S, value: unknown, wrongShape: (detail: string) => Error, prefix = ''): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const first = r.error.issues[0]!;
  throw wrongShape(`${prefix}/${first.path.map(String).join('/')} ${first.message}`);
}
