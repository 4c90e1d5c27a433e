/**
 * Secret redaction for everything a deployment writes where people can read it: step log
 * lines, error excerpts, stored deployment records. Three sources of secrets are recognised:
 * values registered for a run (sensitive artifact fields, sensitive outputs, sensitive params),
 * values under password/token-looking keys, and a few well-known textual shapes
 * (`password=...`, `Bearer ...`, `scheme://user:secret@host`).
 */

/** What a redacted secret is replaced with. */
export const REDACTED = '[redacted]';

/**
 * Registered secrets shorter than this are not blanked in free text: a two- or three-letter
 * value would blank ordinary words all over a log, and such a value is not a secret worth the
 * noise. Values under sensitive keys are still redacted whatever their length.
 */
export const MIN_SECRET_LENGTH = 4;

const SENSITIVE_KEY = /(?:password|passwd|passphrase|secret|token|api[_-]?key|private[_-]?key|credentials?|authorization)$/i;

/** True when an object key names something that must never be shown (`password`, `db_password`, `apiToken`, ...). */
export function isSensitiveKey(key: string): boolean {
  return SENSITIVE_KEY.test(key);
}

function decodeToken(raw: string): string {
  return raw.replace(/~1/g, '/').replace(/~0/g, '~');
}

/**
 * Every value matched by a JSON pointer (RFC 6901) in `doc`, where a `*` token matches any key or
 * index (the registry writes array items and map values that way, e.g. `/users/*\/password`).
 */
export function valuesAtPointer(doc: unknown, pointer: string): unknown[] {
  if (pointer === '') return doc === undefined ? [] : [doc];
  if (!pointer.startsWith('/')) return [];
  let current: unknown[] = [doc];
  for (const raw of pointer.slice(1).split('/')) {
    const token = decodeToken(raw);
    const next: unknown[] = [];
    for (const cur of current) {
      if (Array.isArray(cur)) {
        if (raw === '*') next.push(...cur);
        else if (/^\d+$/.test(token) && Number(token) < cur.length) next.push(cur[Number(token)]);
      } else if (cur && typeof cur === 'object') {
        if (raw === '*') next.push(...Object.values(cur));
        else if (Object.prototype.hasOwnProperty.call(cur, token)) next.push((cur as Record<string, unknown>)[token]);
      }
    }
    current = next;
  }
  return current;
}

/** True when a concrete pointer is matched by a pattern pointer (`*` matches one token). */
export function pointerMatches(pattern: string, pointer: string): boolean {
  if (pattern === pointer) return true;
  const a = pattern.split('/');
  const b = pointer.split('/');
  return a.length === b.length && a.every((t, i) => t === '*' || t === b[i]);
}

/** Every string (and number) leaf under a value, for registering a whole sensitive subtree. */
function leaves(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (typeof value === 'number' || typeof value === 'bigint') out.push(String(value));
  else if (Array.isArray(value)) for (const v of value) leaves(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) leaves(v, out);
  return out;
}

/**
 * The values found at `pointers` in `doc`. Artifact definitions give pointers relative to the
 * whole artifact (`/data/authentication/password`); a step may print only the `data` part, so a
 * pointer that does not resolve is tried again without its leading `/data`.
 */
export function sensitiveValuesAt(doc: unknown, pointers: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of pointers) {
    let found = valuesAtPointer(doc, p);
    if (found.length === 0 && p.startsWith('/data/')) found = valuesAtPointer(doc, p.slice('/data'.length));
    for (const v of found) if (v !== undefined && v !== null) leaves(v, out);
  }
  return out;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const TEXT_PATTERNS: { re: RegExp; replace: (m: string, ...g: string[]) => string }[] = [
  // key=value / key: value / "key": "value" for sensitive-looking keys (already redacted values left alone).
  {
    re: /("?[\w.-]*(?:password|passwd|passphrase|secret|token|api[_-]?key|private[_-]?key)"?\s*[:=]\s*)(?!["']?\[redacted\])("(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;&"'}\]]+)/gi,
    replace: (_m, key, value) => {
      const q = value.startsWith('"') ? '"' : value.startsWith("'") ? "'" : '';
      return `${key}${q}${REDACTED}${q}`;
    },
  },
  // Credentials in URLs: scheme://user:secret@host
  { re: /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:@/]+:)([^\s@/]+)(@)/gi, replace: (_m, a, _s, c) => `${a}${REDACTED}${c}` },
  // HTTP authorization headers.
  { re: /(\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]{6,}/g, replace: (_m, a) => `${a}${REDACTED}` },
];

/**
 * Redacts secrets in text and in structured values. One instance per deployment run: secrets
 * found along the way (a connected artifact's password, a sensitive output) are registered with
 * {@link Redactor.addSecret} and blanked from everything redacted afterwards.
 */
export class Redactor {
  private readonly secrets = new Set<string>();
  private pattern: RegExp | undefined;

  /** @param secrets explicit secret strings known before the run starts. */
  constructor(secrets: Iterable<string> = []) {
    for (const s of secrets) this.addSecret(s);
  }

  /** Registers one secret value; it is blanked wherever it appears, also in its JSON-escaped form. */
  addSecret(value: string | number | undefined | null): void {
    if (value === undefined || value === null) return;
    const s = String(value);
    if (s.length < MIN_SECRET_LENGTH) return;
    this.secrets.add(s);
    const escaped = JSON.stringify(s).slice(1, -1);
    if (escaped !== s) this.secrets.add(escaped);
    this.pattern = undefined;
  }

  /** Registers every leaf of `value` found at `pointers` (for `$md.sensitive` fields of an artifact). */
  addSensitiveFields(value: unknown, pointers: readonly string[]): void {
    for (const s of sensitiveValuesAt(value, pointers)) this.addSecret(s);
  }

  /** Registers every string under a sensitive-looking key anywhere in `value`. */
  addSecretsUnderSensitiveKeys(value: unknown): void {
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') {
        for (const [k, child] of Object.entries(v)) {
          if (isSensitiveKey(k)) for (const leaf of leaves(child)) this.addSecret(leaf);
          else walk(child);
        }
      }
    };
    walk(value);
  }

  /** Number of registered secrets (for tests and diagnostics; never the values). */
  get size(): number {
    return this.secrets.size;
  }

  /** Returns `text` with every registered secret and every recognised secret shape blanked. */
  redactText(text: string): string {
    let out = text;
    if (this.secrets.size > 0) {
      if (!this.pattern) {
        // Longest first so a secret that contains another one is blanked whole.
        const alts = [...this.secrets].sort((a, b) => b.length - a.length).map(escapeRegExp);
        this.pattern = new RegExp(alts.join('|'), 'g');
      }
      out = out.replace(this.pattern, REDACTED);
    }
    for (const p of TEXT_PATTERNS) out = out.replace(p.re, p.replace as never);
    return out;
  }

  /**
   * Returns a deep copy of `value` with sensitive-key values replaced by {@link REDACTED}, values
   * at `sensitivePointers` replaced too, and every other string passed through {@link redactText}.
   */
  redactValue<T>(value: T, sensitivePointers: readonly string[] = []): T {
    const isMarked = (pointer: string): boolean =>
      sensitivePointers.some((p) => pointerMatches(p, pointer) || pointerMatches(`/data${p}`, pointer) || (p.startsWith('/data/') && pointerMatches(p.slice(5), pointer)));
    const walk = (v: unknown, pointer: string): unknown => {
      if (pointer !== '' && isMarked(pointer)) return REDACTED;
      if (typeof v === 'string') return this.redactText(v);
      if (Array.isArray(v)) return v.map((x, i) => walk(x, `${pointer}/${i}`));
      if (v && typeof v === 'object') {
        const out: Record<string, unknown> = {};
        for (const [k, child] of Object.entries(v)) {
          const p = `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`;
          out[k] = isSensitiveKey(k) && child !== null && typeof child !== 'object' ? REDACTED : walk(child, p);
        }
        return out;
      }
      return v;
    };
    return walk(value, '') as T;
  }
}
