// ServiceNow's 429 headers: X-RateLimit-Reset (epoch seconds) says how long to wait when
// Retry-After is missing; Retry-After still wins when both are there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AxiosError, AxiosHeaders } from 'axios';
import { rateLimitResetMs, serviceNowFailure } from '../../src/surfaces/servicenow/rate-limit.ts';

const NOW = Date.UTC(2026, 11, 5, 9, 0, 0);
const epoch = (msFromNow: number) => String((NOW + msFromNow) / 1000);

test('X-RateLimit-Reset in epoch seconds becomes the wait from now', () => {
  assert.equal(rateLimitResetMs({ 'X-RateLimit-Limit': '100', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': epoch(30_000) }, NOW), 30_000);
  assert.equal(rateLimitResetMs({ 'x-ratelimit-reset': epoch(1_500) }, NOW), 1_500, 'any casing; no Remaining header is fine');
  assert.equal(rateLimitResetMs({ 'X-RateLimit-Reset': [epoch(2_000)] }, NOW), 2_000, 'a repeated header: the first value');
  assert.equal(rateLimitResetMs({ 'X-RateLimit-Reset': (NOW + 2_000) / 1000 }, NOW), 2_000, 'a number');
});

test('no wait from the headers: no reset, a reset in the past, a garbled reset, or requests remaining', () => {
  assert.equal(rateLimitResetMs({}, NOW), undefined);
  assert.equal(rateLimitResetMs({ 'X-RateLimit-Reset': epoch(-5_000) }, NOW), undefined);
  assert.equal(rateLimitResetMs({ 'X-RateLimit-Reset': 'Thu, 05 Dec 2026 09:00:30 GMT' }, NOW), undefined);
  assert.equal(rateLimitResetMs({ 'X-RateLimit-Reset': '' }, NOW), undefined);
  assert.equal(rateLimitResetMs({ 'X-RateLimit-Remaining': '12', 'X-RateLimit-Reset': epoch(30_000) }, NOW), undefined);
});

/** An axios 429 whose headers arrive lower-cased, as Node's HTTP client hands them over. */
function axios429(headers: Record<string, string>): AxiosError {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const response = { status: 429, statusText: 'Too Many Requests', headers: new AxiosHeaders(lower), data: { error: { message: 'Rate limit exceeded', detail: 'd' }, status: 'failure' }, config: { headers: new AxiosHeaders() } };
  return new AxiosError('Request failed with status code 429', 'ERR_BAD_REQUEST', undefined, undefined, response as never);
}

test('a 429 without Retry-After waits until X-RateLimit-Reset; Retry-After wins when present', () => {
  const messages = () => ['Rate limit exceeded'];
  const reset = serviceNowFailure(axios429({ 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': epoch(45_000) }), messages, () => NOW);
  assert.equal(reset.status, 429);
  assert.equal(reset.retryAfterMs, 45_000);
  const both = serviceNowFailure(axios429({ 'Retry-After': '3', 'X-RateLimit-Reset': epoch(45_000) }), messages, () => NOW);
  assert.equal(both.retryAfterMs, 3_000);
  assert.equal(serviceNowFailure(axios429({}), messages, () => NOW).retryAfterMs, undefined, 'neither: the caller backs off');
});
