/**
 * Verification of the Business Rule's deliveries on their raw bytes: the HMAC signature the
 * shipped script sends, the Basic-auth fallback it uses when it cannot sign, and the event id the
 * service dedupes on, which must be the one inside the signed body.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../src/engine/errors.ts';
import { verifyServiceNowDelivery } from '../../src/surfaces/servicenow/webhook.ts';
import { signServiceNowBody } from '../../sandbox/servicenow/webhook-sender.ts';
import { webhookBody } from '../../sandbox/servicenow/business-rule.ts';

const secret = 'webhook-secret-0123456789abcdef';
const basic = { username: 'servicenow-hook', password: 'basic-password-0123456789' };
const body = webhookBody({ event_id: '1'.repeat(32), event: 'approval.updated', table: 'sysapproval_approver', sys_id: '2'.repeat(32), sys_updated_on: '2026-11-24 09:00:00' });
const raw = Buffer.from(body);
const basicHeader = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

function refused(fn: () => unknown, header: string): void {
  assert.throws(fn, (err: unknown) => err instanceof UserError && err.code === 'unauthorized' && err.message.startsWith(header));
}

test('a body signed the way the Business Rule signs it is accepted; its event id is the delivery id', () => {
  const out = verifyServiceNowDelivery({ 'x-servicenow-signature': signServiceNowBody(secret, body), 'x-servicenow-event-id': '1'.repeat(32) }, raw, { secret });
  assert.equal(out.event_id, '1'.repeat(32));
  assert.equal(out.event, 'approval.updated');
});

test('Basic auth is the fallback when the instance cannot sign, and only when configured', () => {
  const ok = verifyServiceNowDelivery({ authorization: basicHeader(basic.username, basic.password) }, raw, { secret, basic });
  assert.equal(ok.sys_id, '2'.repeat(32));
  refused(() => verifyServiceNowDelivery({ authorization: basicHeader(basic.username, 'wrong-password-0123456') }, raw, { secret, basic }), 'Authorization');
  refused(() => verifyServiceNowDelivery({ authorization: basicHeader(basic.username, basic.password) }, raw, { secret }), 'X-ServiceNow-Signature');
  // A wrong signature is never excused by correct Basic credentials.
  refused(() => verifyServiceNowDelivery({ 'x-servicenow-signature': signServiceNowBody('other-secret-0123456789', body), authorization: basicHeader(basic.username, basic.password) }, raw, { secret, basic }), 'X-ServiceNow-Signature');
});

test('malformed signatures, changed bytes, an event id header that disagrees with the body, and bodies that are not events are refused', () => {
  refused(() => verifyServiceNowDelivery({ 'x-servicenow-signature': 'sha1=abc' }, raw, { secret }), 'X-ServiceNow-Signature');
  refused(() => verifyServiceNowDelivery({ 'x-servicenow-signature': signServiceNowBody(secret, body) }, Buffer.from(body.replace('approval.updated', 'ritm.inserted')), { secret }), 'X-ServiceNow-Signature');
  refused(() => verifyServiceNowDelivery({ 'x-servicenow-signature': signServiceNowBody(secret, body), 'x-servicenow-event-id': '3'.repeat(32) }, raw, { secret }), 'X-ServiceNow-Event-Id');
  const notAnEvent = JSON.stringify({ event_id: 'x', event: 'ritm.deleted' });
  refused(() => verifyServiceNowDelivery({ 'x-servicenow-signature': signServiceNowBody(secret, notAnEvent) }, Buffer.from(notAnEvent), { secret }), 'body /');
});
