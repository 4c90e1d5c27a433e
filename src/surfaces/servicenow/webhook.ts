/**
 * What the shipped Business Rule (integrations/servicenow/ticket-surface-business-rule.js)
 * sends, and how it is checked: `X-ServiceNow-Signature: sha256=<hex HMAC-SHA256 of the raw
 * body>` with the shared secret, or Basic auth when the instance cannot sign. The body only
 * says which record changed; the adapter reads the truth back through the Table API.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { headerValue, WebhookHeaderError } from '../shared/inbound-headers.ts';
import type { InboundHeaders } from '../surface.ts';

/** Header carrying the HMAC signature. */
export const SIGNATURE_HEADER = 'X-ServiceNow-Signature';
/** Header carrying the event id (the same on every retry). */
export const EVENT_ID_HEADER = 'X-ServiceNow-Event-Id';

/** The webhook body. */
export const serviceNowWebhookSchema = z.object({
  event_id: z.string().regex(/^[0-9a-f]{32}$/, 'must be 32 hex characters'),
  event: z.enum(['ritm.inserted', 'ritm.updated', 'approval.updated', 'work_note.added']),
  table: z.string().min(1),
  sys_id: z.string().regex(/^[0-9a-f]{32}$/, 'must be 32 hex characters'),
  sys_updated_on: z.string().optional(),
});

/** A parsed webhook body. */
export type ServiceNowWebhook = z.infer<typeof serviceNowWebhookSchema>;

/**
 * Whether a delivery is a journal entry the integration user (the service) wrote: a
 * `work_note.added` whose body names its writer, `sys_updated_by` of the requested item (who
 * saved the note) or `sys_created_by` of a journal entry, as `integrationUser`. The shipped
 * Business Rule already sends nothing for the integration user's own changes and names no
 * writer; this catches the echoes of rules that do. False when the body names no writer.
 */
export function isServiceNowOwnEcho(payload: unknown, integrationUser: string): boolean {
  if (typeof payload !== 'object' || payload === null) return false;
  const p = payload as { event?: unknown; table?: unknown; sys_updated_by?: unknown; sys_created_by?: unknown };
  if (p.event !== 'work_note.added') return false;
  // A requested item's sys_created_by is whoever ordered it, not the note's writer.
  const writer = p.table === 'sys_journal_field' ? p.sys_created_by : p.sys_updated_by;
  return typeof writer === 'string' && writer !== '' && writer === integrationUser;
}

/** Credentials a delivery may carry. */
export interface ServiceNowWebhookAuth {
  /** HMAC secret (`x_ticket_surface.secret`). */
  secret: string;
  /** Basic auth fallback (`x_ticket_surface.basic_user` / `.basic_password`), when configured. */
  basic?: { username: string; password: string };
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  // timingSafeEqual needs equal lengths; comparing against itself keeps the time constant.
  return x.length === y.length ? timingSafeEqual(x, y) : (timingSafeEqual(y, y), false);
}

/**
 * Checks a delivery on its raw bytes and returns the parsed body. A signature, when present,
 * must match (a wrong one is never excused by Basic auth); without one, Basic auth must match
 * the configured fallback. Throws {@link WebhookHeaderError} naming the header.
 */
export function verifyServiceNowDelivery(headers: InboundHeaders, rawBody: Buffer, auth: ServiceNowWebhookAuth): ServiceNowWebhook {
  const sig = headerValue(headers, SIGNATURE_HEADER);
  if (sig !== undefined) {
    if (!/^sha256=[0-9a-f]{64}$/i.test(sig)) throw new WebhookHeaderError(SIGNATURE_HEADER, 'is malformed; expected sha256=<64 hex digits>');
    const expected = `sha256=${createHmac('sha256', auth.secret).update(rawBody).digest('hex')}`;
    if (!safeEqual(sig.toLowerCase(), expected)) throw new WebhookHeaderError(SIGNATURE_HEADER, 'does not match the body (wrong secret, or the body was changed)');
  } else {
    const authz = headerValue(headers, 'authorization');
    if (!auth.basic) throw new WebhookHeaderError(SIGNATURE_HEADER, 'is missing; every delivery must be signed with the shared secret');
    if (!authz) throw new WebhookHeaderError(SIGNATURE_HEADER, 'is missing, and so is Authorization (Basic auth fallback)');
    const m = /^Basic\s+(.+)$/i.exec(authz);
    const expected = Buffer.from(`${auth.basic.username}:${auth.basic.password}`).toString('base64');
    if (!m || !safeEqual(m[1]!, expected)) throw new WebhookHeaderError('Authorization', 'does not carry the configured webhook credentials');
  }
  let body: unknown;
  try {
    body = JSON.parse(rawBody.toString('utf8'));
  } catch {
    throw new WebhookHeaderError('body', 'is not JSON');
  }
  const parsed = serviceNowWebhookSchema.safeParse(body);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new WebhookHeaderError(`body /${i.path.join('/')}`, i.message);
  }
  const eventHeader = headerValue(headers, EVENT_ID_HEADER);
  if (eventHeader !== undefined && eventHeader !== parsed.data.event_id) throw new WebhookHeaderError(EVENT_ID_HEADER, 'differs from the event_id of the signed body');
  return parsed.data;
}
