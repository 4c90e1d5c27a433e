/**
 * Reading the headers of an inbound delivery (a webhook), for every surface. Kept apart from the
 * outbound calls (`remote-call.ts`, which loads the HTTP client) so reading a delivery, as
 * `webhook inspect` does, loads nothing it does not use.
 */
import { UserError } from '../../engine/errors.ts';
import type { InboundHeaders } from '../surface.ts';

/** The first value of header `name` (any casing) of an inbound call, trimmed; undefined when absent or blank. */
export function headerValue(headers: InboundHeaders, name: string): string | undefined {
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() === want) return (Array.isArray(v) ? v[0] : v)?.trim() || undefined;
  }
  return undefined;
}

/** A delivery whose header (or body part) fails verification; the message names it (answered 401). */
export class WebhookHeaderError extends UserError {
  /** The header (or body part) at fault, as people write it. */
  readonly header: string;
  constructor(header: string, problem: string) {
    super('unauthorized', `${header} ${problem}`);
    this.header = header;
  }
}
