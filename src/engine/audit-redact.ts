/**
 * Redaction of sensitive values before they are stored in the audit log. Two tools:
 * - {@link redactSensitive}: exact, driven by JSON pointers (an artifact definition's
 *   `sensitivePointers`, a bundle's `$md.sensitive` params).
 * - {@link redactSecretsByName}: a safety net for values nobody marked, keyed on names such as
 *   `password`, `token`, `secret`. The audit log applies it to every before/after it stores.
 * (Free-text redaction of logs lives in `redact.ts`; this file only handles structured values.)
 */

/** What a redacted value is replaced with. */
export const REDACTED = '[redacted]';

function clone<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

function decodeSegment(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

/**
 * Returns a deep copy of `value` where every location named by `pointers` (RFC 6901 JSON
 * pointers; a `*` segment matches every key or index at that level) holds {@link REDACTED}.
 * Pointers that lead nowhere are ignored; the pointer `""` redacts the whole value.
 */
export function redactSensitive<T>(value: T, pointers: readonly string[]): T {
  if (pointers.includes('')) return REDACTED as unknown as T;
  const copy = clone(value);
  for (const pointer of pointers) {
    if (!pointer.startsWith('/')) continue;
    redactAt(copy, pointer.slice(1).split('/').map(decodeSegment));
  }
  return copy;
}

function redactAt(node: unknown, segments: string[]): void {
  if (node === null || typeof node !== 'object' || segments.length === 0) return;
  const [head, ...rest] = segments as [string, ...string[]];
  const container = node as Record<string, unknown>;
  const keys = head === '*' ? Object.keys(container) : Object.prototype.hasOwnProperty.call(container, head) ? [head] : [];
  for (const key of keys) {
    if (rest.length === 0) container[key] = REDACTED;
    else redactAt(container[key], rest);
  }
}

/** Key names whose values are treated as secrets wherever they appear. */
const SECRET_NAME = /^(?:.*[_\-.])?(?:password|passwd|passphrase|secret|token|api[_-]?key|private[_-]?key|client[_-]?secret|credentials?|authorization)$/i;
/** camelCase variants: `adminPassword`, `apiToken`, `clientSecret`. */
const SECRET_CAMEL = /[a-z0-9](?:Password|Passwd|Passphrase|Secret|Token|ApiKey|PrivateKey|Credentials?)$/;

/** True when a key name looks like it holds a secret. */
export function isSecretName(key: string): boolean {
  return SECRET_NAME.test(key) || SECRET_CAMEL.test(key);
}

/**
 * Returns a deep copy of `value` where strings, objects and arrays stored under secret-looking
 * key names are replaced by {@link REDACTED}. Numbers and booleans are kept (a `fencingToken`
 * is a counter, not a credential).
 */
export function redactSecretsByName<T>(value: T): T {
  return walk(clone(value)) as T;
}

function walk(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(walk);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(node as Record<string, unknown>)) {
    const secretShaped = v !== null && (typeof v === 'string' || typeof v === 'object');
    out[key] = secretShaped && isSecretName(key) ? REDACTED : walk(v);
  }
  return out;
}
