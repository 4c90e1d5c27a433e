/**
 * ServiceNow's rate-limit headers. An instance over its inbound REST rate limit answers 429 with
 * `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (the epoch second at which
 * the limit's window starts again), and not always with `Retry-After`. When `Retry-After` is
 * missing, the reset tells how long to wait.
 */
import { axiosFailure, type RemoteFailure } from '../shared/remote-call.ts';
import { AxiosError } from 'axios';

/** A header value as a finite number, or undefined (absent, blank, not a number). */
function headerNumber(headers: Record<string, unknown>, name: string): number | undefined {
  const raw = headers[name] ?? headers[name.toLowerCase()];
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  const s = String(v).trim();
  if (!/^\d+(\.\d+)?$/.test(s)) return undefined;
  return Number(s);
}

/**
 * Milliseconds from `now` until `X-RateLimit-Reset` (epoch seconds), or undefined when the
 * headers do not say: no reset, a reset already past, or `X-RateLimit-Remaining` above zero (the
 * 429 was not this limit's).
 */
export function rateLimitResetMs(headers: Record<string, unknown>, now: number = Date.now()): number | undefined {
  const lower: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = v;
  const remaining = headerNumber(lower, 'x-ratelimit-remaining');
  if (remaining !== undefined && remaining > 0) return undefined;
  const reset = headerNumber(lower, 'x-ratelimit-reset');
  if (reset === undefined) return undefined;
  const wait = Math.ceil(reset * 1000 - now);
  return wait > 0 ? wait : undefined;
}

/**
 * What failed in one axios call to ServiceNow: the shared reading (status, `Retry-After`, the
 * platform's messages via `messagesOf`), with a 429 lacking `Retry-After` waiting until the
 * `X-RateLimit-Reset` it carries.
 */
export function serviceNowFailure(err: unknown, messagesOf: (data: unknown) => string[], now: () => number = Date.now): RemoteFailure {
  const axiosErr = err instanceof AxiosError ? err : undefined;
  const failure = axiosFailure(axiosErr, err, messagesOf);
  if (failure.status !== 429 || failure.retryAfterMs !== undefined) return failure;
  const headers = axiosErr?.response?.headers;
  const wait = headers ? rateLimitResetMs(headersObject(headers), now()) : undefined;
  return wait === undefined ? failure : { ...failure, retryAfterMs: wait };
}

/** Axios's headers (a plain object or an AxiosHeaders) as a plain object. */
function headersObject(headers: unknown): Record<string, unknown> {
  const h = headers as { toJSON?: () => Record<string, unknown> };
  return typeof h.toJSON === 'function' ? h.toJSON() : (headers as Record<string, unknown>);
}
