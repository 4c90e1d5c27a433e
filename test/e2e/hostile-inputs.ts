/**
 * The hostile inputs of the campaign, generated as combinations (signature or credential
 * variants × bodies × header variants) rather than written out one by one. Each input says what
 * the service must answer: `4xx` for inputs that are malformed by construction (a bad signature,
 * a body that is not JSON, an oversize body), `not5xx` for inputs the service may accept as
 * data (a correctly signed delivery whose content is odd, a request whose label is shell code),
 * or an exact status with what its message must say (a refused API credential: 401, or 403 for a
 * token whose role does not allow the route).
 */
import { createHmac } from 'node:crypto';
import type { ApiCredentials } from './hostile-world.ts';

/** One HTTP call of the campaign. */
export interface HostileInput {
  name: string;
  method: 'GET' | 'POST' | 'PATCH';
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  expect: '4xx' | 'not5xx' | { status: number; message: RegExp };
}

/** Bodies that are hostile as bytes: not JSON, not UTF-8, too deep, too big, prototype keys. */
export function rawBodies(): Record<string, { body: Buffer; malformed: boolean }> {
  const text = (s: string, malformed = false) => ({ body: Buffer.from(s, 'utf8'), malformed });
  return {
    empty: text('', true),
    truncated: text('{"webhookEvent":"jira:issue_created","issue":{"key":', true),
    notJson: text('<?xml version="1.0"?><a>&xxe;</a>', true),
    invalidUtf8: { body: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0x22, 0x7d]), malformed: false },
    deepArrays: text('['.repeat(60_000) + ']'.repeat(60_000)),
    deepObjects: text('{"a":'.repeat(30_000) + '1' + '}'.repeat(30_000)),
    protoKeys: text('{"__proto__":{"polluted":"yes","isAdmin":true},"constructor":{"prototype":{"polluted":"yes"}},"prototype":{"x":1}}'),
    oversize: text(JSON.stringify({ big: 'x'.repeat(1_200_000) }), true),
    nearLimit: text(JSON.stringify({ big: 'y'.repeat(1_000_000) })),
    arrayRoot: text('[{"__proto__":{"polluted":"yes"}}]'),
    nullRoot: text('null'),
    numberRoot: text('1e309'),
    controlChars: text(JSON.stringify({ a: '\u0000\u0007\u001b[31m\u202e\u2066\ufeff', '\u0000': 1 })),
    duplicateKeys: text('{"a":1,"a":{"__proto__":{"polluted":"yes"}},"a":"last"}'),
  };
}

/** Strings that are hostile as values: shell code, prototype names, markup, mentions, huge and odd Unicode. */
export function hostileStrings(marker: string): string[] {
  return [
    `$(touch ${marker})`,
    `\`touch ${marker}\``,
    `x; touch ${marker}`,
    '__proto__',
    'constructor',
    '{"__proto__":{"polluted":"yes"}}',
    '[~accountid:5b10a2844c20165700ede21g] @here [code]<script>alert(1)</script>[/code] {html}<b>x</b>{html}',
    'INFRA-1\r\nX-Injected: yes',
    '../../../../etc/passwd',
    'a'.repeat(100_000),
    '\ud800\udfff\u202e\u0000',
    'password=hunter2hunter2 Bearer abcdefghijklmnop',
  ];
}

/**
 * Extra headers of the `i`th call: mostly none; every 7th a flood of hundreds of headers, every
 * 11th one header over Node's header size limit (strides prime to the body counts, so every body
 * meets every variant somewhere in a campaign).
 */
export function headerVariant(i: number): [name: string, headers: Record<string, string>] {
  if (i % 11 === 10) return ['hugeHeader', { 'x-huge': 'h'.repeat(20_000) }];
  if (i % 7 !== 6) return ['none', {}];
  const flood: Record<string, string> = {};
  for (let n = 0; n < 400; n++) flood[`x-flood-${n}`] = `v${n}`;
  return ['flood', flood];
}

/** Jira-shaped payloads whose values are hostile (they pass the signature check when signed). */
export function jiraPayloads(marker: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  hostileStrings(marker).forEach((s, i) => {
    out[`issueCreated${i}`] = { webhookEvent: 'jira:issue_created', timestamp: Date.now(), issue: { id: s, key: s, fields: { summary: s, project: { key: s }, issuetype: { name: s }, ['__proto__']: { polluted: 'yes' } } }, user: { accountId: s, displayName: s } };
    out[`comment${i}`] = { webhookEvent: 'comment_created', comment: { id: s, body: s, author: { accountId: s } }, issue: { key: 'INFRA-1', fields: {} } };
  });
  out.unknownEvent = { webhookEvent: '__proto__', issue: null };
  out.wrongTypes = { webhookEvent: 42, issue: [], comment: 'x', changelog: { items: 'no' } };
  return out;
}

/** ServiceNow-shaped payloads whose values are hostile. */
export function serviceNowPayloads(marker: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const hex = (i: number) => i.toString(16).padStart(32, '0');
  hostileStrings(marker).forEach((s, i) => {
    out[`sysId${i}`] = { event_id: hex(1000 + i), event: 'ritm.inserted', table: 'sc_req_item', sys_id: s };
    out[`table${i}`] = { event_id: hex(2000 + i), event: 'ritm.updated', table: s, sys_id: hex(3000 + i) };
    out[`event${i}`] = { event_id: s, event: s, table: 'sc_req_item', sys_id: hex(4000 + i) };
  });
  out.unknownRecord = { event_id: hex(5000), event: 'ritm.updated', table: 'sc_req_item', sys_id: hex(5001) };
  out.approvalOfNothing = { event_id: hex(5002), event: 'approval.updated', table: 'sysapproval_approver', sys_id: hex(5003) };
  return out;
}

/** A webhook's signature schemes, from right to wrong: each returns the headers for a body. */
export type Signer = (body: Buffer) => Record<string, string>;

/** The signature variants of a `sha256=<hex HMAC>` header. */
export function signatureVariants(header: string, secret: string): Record<string, { sign: Signer; valid: boolean }> {
  const hmac = (key: string, body: Buffer | string, alg = 'sha256') => createHmac(alg, key).update(body).digest('hex');
  return {
    valid: { sign: (b) => ({ [header]: `sha256=${hmac(secret, b)}` }), valid: true },
    validUppercase: { sign: (b) => ({ [header]: `SHA256=${hmac(secret, b).toUpperCase()}` }), valid: true },
    missing: { sign: () => ({}), valid: false },
    empty: { sign: () => ({ [header]: '' }), valid: false },
    zeros: { sign: () => ({ [header]: `sha256=${'0'.repeat(64)}` }), valid: false },
    wrongSecret: { sign: (b) => ({ [header]: `sha256=${hmac('not-the-secret-0123456789', b)}` }), valid: false },
    otherBody: { sign: (b) => ({ [header]: `sha256=${hmac(secret, Buffer.concat([b, Buffer.from(' ')]))}` }), valid: false },
    sha1: { sign: (b) => ({ [header]: `sha1=${hmac(secret, b, 'sha1')}` }), valid: false },
    truncated: { sign: (b) => ({ [header]: `sha256=${hmac(secret, b).slice(0, 63)}` }), valid: false },
    garbage: { sign: () => ({ [header]: 'sha256=$(touch /nonexistent); \u00ff\u00fe' }), valid: false },
    long: { sign: () => ({ [header]: `sha256=${'a'.repeat(8000)}` }), valid: false },
  };
}

/** What differs between the two webhooks. */
export interface WebhookShape {
  path: string;
  signatureHeader: string;
  /** Header carrying the delivery id, when the surface has one outside the body. */
  deliveryHeader?: string;
  secret: string;
  payloads: Record<string, unknown>;
  /** True when the surface checks the body's shape before accepting (a signed but odd body is then 4xx). */
  checksBody: boolean;
}

/** Delivery ids, some hostile; every input gets a unique one so dedupe never hides an answer. */
function deliveryId(i: number): string | undefined {
  const kinds = [`hostile-${i}`, `hostile:${i}:../../x`, `${'d'.repeat(4000)}-${i}`, `${i}`, `__proto__-${i}`];
  return i % 13 === 12 ? undefined : kinds[i % kinds.length];
}

/** Every signature variant × every body (raw bytes and surface-shaped payloads) × a header variant, for one webhook. */
export function webhookInputs(shape: WebhookShape): HostileInput[] {
  const bodies: Record<string, { body: Buffer; malformed: boolean }> = { ...rawBodies() };
  for (const [name, payload] of Object.entries(shape.payloads)) bodies[name] = { body: Buffer.from(JSON.stringify(payload)), malformed: false };
  const out: HostileInput[] = [];
  for (const [sigName, sig] of Object.entries(signatureVariants(shape.signatureHeader, shape.secret))) {
    for (const [bodyName, { body }] of Object.entries(bodies)) {
      const i = out.length;
      const [headerName, extra] = headerVariant(i);
      const id = deliveryId(i);
      const headers = { 'content-type': 'application/json', ...extra, ...sig.sign(body), ...(shape.deliveryHeader && id !== undefined ? { [shape.deliveryHeader]: id } : {}) };
      const refused = !sig.valid || bodyName === 'oversize' || headerName === 'hugeHeader' || (shape.deliveryHeader !== undefined && id === undefined);
      out.push({ name: `${shape.path} ${sigName} ${bodyName} ${headerName}`, method: 'POST', path: shape.path, headers, body, expect: refused ? '4xx' : 'not5xx' });
    }
  }
  return out;
}

/** The API's write routes, with a body. */
const API_WRITES: [HostileInput['method'], string][] = [
  ['POST', '/v1/projects'],
  ['POST', '/v1/environments'],
  ['POST', '/v1/packages'],
  ['PATCH', '/v1/packages/checkout-dev-cache'],
  ['POST', '/v1/requests'],
  ['POST', '/v1/requests/req_doesnotexist0000/approve'],
  ['POST', '/v1/bundles/redis-cache/versions/1.2.0/attestations'],
];

/** Request bodies whose every field is one hostile value, plus a valid request with a deep params tree. */
function structuredBodies(marker: string): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  hostileStrings(marker).forEach((s, i) => {
    const value = { id: s, name: s, project: s, environment: s, bundle: s, package: s, kind: s, version: s, by: s, note: s, planHash: s, revision: s, labels: { [s.slice(0, 50)]: s }, params: { label: s, ['__proto__']: { polluted: 'yes' } }, connections: { cache: { package: s, artifact: s } } };
    out[`fields${i}`] = Buffer.from(JSON.stringify(value));
  });
  const deep = '{"d":'.repeat(20_000) + '"bottom"' + '}'.repeat(20_000);
  out.deepParams = Buffer.from(`{"project":"checkout","environment":"dev","bundle":"secret-probe","package":"deep-params","name":"deep-params","id":"deep","revision":1,"params":{"label":"deep","nested":${deep}}}`);
  return out;
}

/** Path segments and query values that are hostile once decoded (or cannot be decoded at all). */
function hostileSegments(marker: string): string[] {
  return [...hostileStrings(marker).map(encodeURIComponent), '%', '%E0%A4%A', '%00', '..%2F..%2F..%2Fetc%2Fpasswd', '%2e%2e', '%41'.repeat(3000)];
}

/** The API's read routes, besides the hostile segments. */
const API_READS = ['/v1/bundles', '/v1/projects', '/v1/environments', '/v1/packages', '/v1/packages/checkout-dev-cache', '/v1/requests', '/v1/audit?limit=5', '/v1/audit/verify', '/v1/queries', '/v1/deliveries/failed'];

/**
 * Every write route × every body, and every read route × every hostile segment, each with a
 * header variant, with the good credential; then every refused credential on every route (a
 * write with one of the hostile bodies), each answered with its status and message.
 */
export function apiInputs(credentials: ApiCredentials, marker: string): HostileInput[] {
  const out: HostileInput[] = [];
  const add = (method: HostileInput['method'], path: string, label: string, body: Buffer | undefined, malformed: boolean) => {
    const [headerName, extra] = headerVariant(out.length);
    const headers = { ...extra, ...credentials.good, ...(body ? { 'content-type': 'application/json' } : {}) };
    const tooBig = headerName === 'hugeHeader' || path.length > 12_000;
    out.push({ name: `${method} ${path.slice(0, 80)} ${label} ${headerName}`, method, path, headers, ...(body ? { body } : {}), expect: malformed || tooBig ? '4xx' : 'not5xx' });
  };
  const bodies: Record<string, { body: Buffer; malformed: boolean }> = { ...rawBodies() };
  for (const [name, body] of Object.entries(structuredBodies(marker))) bodies[name] = { body, malformed: false };
  for (const [method, path] of API_WRITES) for (const [label, { body, malformed }] of Object.entries(bodies)) add(method, path, label, body, malformed);
  for (const seg of hostileSegments(marker)) {
    for (const path of [`/v1/packages/${seg}`, `/v1/requests/${seg}`, `/v1/queries/${seg}`, `/v1/bundles/${seg}/versions/${seg}`, `/v1/audit?subject=${seg}&limit=${seg}`, `/v1/queries/package?${seg}=${seg}`]) add('GET', path, 'segment', undefined, false);
  }
  return [...out, ...refusedCredentialInputs(credentials, Object.entries(bodies))];
}

/** Every refused credential on every route it is refused on: a write carries the next hostile body in turn. */
function refusedCredentialInputs(credentials: ApiCredentials, bodies: [string, { body: Buffer }][]): HostileInput[] {
  const out: HostileInput[] = [];
  const routes: [HostileInput['method'], string][] = [...API_WRITES, ...API_READS.map((p): [HostileInput['method'], string] => ['GET', p])];
  for (const [credName, cred] of Object.entries(credentials.refused)) {
    for (const [method, path] of routes) {
      if (cred.writesOnly && method === 'GET') continue;
      const [bodyName, { body }] = method === 'GET' ? ['none', { body: undefined }] : bodies[out.length % bodies.length]!;
      const headers = { ...cred.headers, ...(body ? { 'content-type': 'application/json' } : {}) };
      out.push({ name: `${method} ${path} ${credName} ${bodyName}`, method, path, headers, ...(body ? { body } : {}), expect: { status: cred.status, message: cred.message } });
    }
  }
  return out;
}
