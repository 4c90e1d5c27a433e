/**
 * The one redaction module: what counts as a secret and how it is hidden, wherever people can
 * read something (log lines, step logs and error excerpts, audit events, API answers, ticket
 * text). A secret is recognised four ways:
 * - by mark: values at JSON pointers taken from `$md.sensitive` (a bundle's params schema, an
 *   artifact definition), see {@link maskAtPointers} and {@link redactRecord};
 * - by value: strings registered with a {@link Redactor} (configured tokens and passwords,
 *   values found by mark) are blanked wherever they appear, also JSON-escaped;
 * - by name: values under keys such as `password`, `api_key`, `clientSecret` ({@link isSensitiveKey});
 * - by shape, in free text: `password=...`, `scheme://user:secret@host`, `Bearer ...`, PEM
 *   private keys and well-known token formats ({@link redactText}).
 */

/** What a redacted secret is replaced with in text, logs and the audit log. */
export const REDACTED = '[redacted]';

/** What a sensitive field's value is replaced with in an API answer or a CLI listing. */
export const MASK = '[sensitive]';

/**
 * Registered secrets shorter than this are not blanked in free text: a two- or three-letter
 * value would blank ordinary words all over a log, and such a value is not a secret worth the
 * noise. Values under sensitive keys or at sensitive pointers are masked whatever their length.
 */
export const MIN_SECRET_LENGTH = 4;

const SENSITIVE_KEY = /(?:password|passwd|passphrase|secret|token|api[_-]?key|private[_-]?key|credentials?|authorization)$/i;

/** True when an object key names something that must never be shown (`password`, `db_password`, `apiToken`, `client_secret`, ...). */
export function isSensitiveKey(key: string): boolean {
  return SENSITIVE_KEY.test(key);
}

function decodeToken(raw: string): string {
  return raw.replace(/~1/g, '/').replace(/~0/g, '~');
}

function escapeToken(token: string): string {
  return token.includes('~') || token.includes('/') ? token.replace(/~/g, '~0').replace(/\//g, '~1') : token;
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

/** A test of many concrete pointers against the same patterns (`*` matching one token), the patterns read once. */
export function pointerMatcher(patterns: readonly string[]): (pointer: string) => boolean {
  if (patterns.length === 0) return () => false;
  const exact = new Set(patterns.filter((p) => !p.split('/').includes('*')));
  const wild = patterns.filter((p) => !exact.has(p)).map((p) => p.split('/'));
  return (pointer) => {
    if (exact.has(pointer)) return true;
    if (wild.length === 0) return false;
    const b = pointer.split('/');
    return wild.some((a) => a.length === b.length && a.every((t, i) => t === '*' || t === b[i]));
  };
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

/**
 * A deep copy of `value` where every value at `pointers` (`*` matching any key or index; `''`
 * the whole value) is replaced by `mask`. Pointers that lead nowhere are ignored, and an absent
 * or null value stays as it is (there is nothing to hide). The input is left alone.
 */
export function maskAtPointers<T>(value: T, pointers: readonly string[], mask: string = REDACTED): T {
  if (pointers.length === 0) return value === undefined ? value : (structuredClone(value) as T);
  const marked = pointerMatcher(pointers);
  const walk = (node: unknown, at: string): unknown => {
    if (marked(at)) return node === undefined || node === null ? node : mask;
    if (Array.isArray(node)) return node.map((v, i) => walk(v, `${at}/${i}`));
    if (node === null || typeof node !== 'object') return node;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) out[k] = walk(v, `${at}/${escapeToken(k)}`);
    return out;
  };
  return walk(value, '') as T;
}

/**
 * A deep copy of `value` where strings, objects and arrays stored under sensitive key names
 * ({@link isSensitiveKey}) are replaced by `mask`. Numbers and booleans are kept (a
 * `fencingToken` is a counter, not a credential).
 */
export function redactSecretsByName<T>(value: T, mask: string = REDACTED): T {
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (node === null || typeof node !== 'object') return node;
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(node)) {
      const secretShaped = v !== null && (typeof v === 'string' || typeof v === 'object');
      out[key] = secretShaped && isSensitiveKey(key) ? mask : walk(v);
    }
    return out;
  };
  return walk(value) as T;
}

/** Words that, as the end of a key in `key=value` / `key: value` / `"key": "value"` text, make the value a secret. */
const SECRET_WORD = String.raw`(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key)`;

/**
 * Secrets recognisable by shape. `keep` keeps the harmless prefix (group 1) and, for quoted
 * values, the quotes. Every pattern runs in time linear in the text: a key is found by its last
 * word (the rest of it is kept anyway, so it is not matched), and repetitions are bounded, so a
 * hostile 100 kB value cannot stall the process.
 */
const SECRET_SHAPES: { re: RegExp; keep: boolean }[] = [
  // PEM private keys, whole block.
  { re: /-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]{0,40}PRIVATE KEY-----|$)/g, keep: false },
  // key=value, key: value, "key": "value" for secret-looking keys (already redacted values left alone;
  // bare numbers, booleans and null too: a `"fencingToken":7` is a counter, and a JSON log line stays JSON).
  {
    re: new RegExp(String.raw`(${SECRET_WORD}["']?\s{0,16}[:=]\s{0,16})(?!["']?\[redacted\])(?!(?:-?\d+(?:\.\d+)?|true|false|null)(?![\w.-]))("(?:[^"\\]|\\.){0,4096}"|'[^']{0,4096}'|[^\s,;&"'}\]]{1,4096})`, 'gi'),
    keep: true,
  },
  // Credentials in URLs: scheme://user:secret@host keeps the user.
  { re: /(\b[a-z][a-z0-9+.-]{0,31}:\/\/[^\s:@/]{1,256}:)(?!\[redacted\]@)([^\s@/]{1,1024})(?=@)/gi, keep: true },
  // HTTP authorization headers.
  { re: /(\b(?:Bearer|Basic)\s{1,16})(?!\[redacted\])([A-Za-z0-9._~+/=-]{6,})/g, keep: true },
  // Well-known token formats: AWS access key ids, GitHub, Slack and Atlassian tokens, JWTs.
  { re: /\bAKIA[0-9A-Z]{16}\b/g, keep: false },
  { re: /\bgh[pousr]_[A-Za-z0-9]{20,}\b/g, keep: false },
  { re: /\bxox[abposr]-[A-Za-z0-9-]{10,}\b/g, keep: false },
  { re: /\bATATT[A-Za-z0-9_=-]{20,}\b/g, keep: false },
  { re: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b/g, keep: false },
];

/** What every shape in {@link SECRET_SHAPES} contains; text without any of it is left as it is at the cost of one test. */
const SHAPE_HINT = /password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|:\/\/|bearer|basic|akia|gh[pousr]_|xox|atatt|eyj|-----begin/i;

/** `text` with every secret recognisable by shape blanked (see {@link SECRET_SHAPES}). */
function redactShapes(text: string): string {
  if (!SHAPE_HINT.test(text)) return text;
  let out = text;
  for (const { re, keep } of SECRET_SHAPES) {
    out = out.replace(re, (match: string, prefix?: unknown, value?: unknown) => {
      if (!keep || typeof prefix !== 'string') return REDACTED;
      const q = typeof value === 'string' && /^["']/.test(value) ? value[0] : '';
      return `${prefix}${q}${REDACTED}${q}`;
    });
  }
  return out;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Blanks anything that looks like a secret in free text (PEM keys, passwords in URLs,
 * `password=...` style assignments, bearer tokens, AWS/GitHub/Slack/Atlassian tokens, JWTs),
 * plus every exact `secrets` value of at least {@link MIN_SECRET_LENGTH} characters. Errs on the
 * side of redacting; idempotent.
 */
export function redactText(text: string, secrets: readonly string[] = []): string {
  return secrets.length === 0 ? redactShapes(text) : new Redactor(secrets).redactText(text);
}

/**
 * Redacts secrets in text and in structured values. One instance per deployment run (or per
 * record): secrets found along the way (a connected artifact's password, a sensitive output)
 * are registered with {@link Redactor.addSecret} and blanked from everything redacted afterwards.
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

  /** True when `text` contains a registered secret. */
  finds(text: string): boolean {
    return this.secrets.size > 0 && this.compiled().test(text);
  }

  private compiled(): RegExp {
    // Longest first so a secret that contains another one is blanked whole.
    this.pattern ??= new RegExp([...this.secrets].sort((a, b) => b.length - a.length).map(escapeRegExp).join('|'), 'g');
    this.pattern.lastIndex = 0;
    return this.pattern;
  }

  /** Returns `text` with every registered secret and every recognised secret shape blanked. */
  redactText(text: string): string {
    const out = this.secrets.size > 0 ? text.replace(this.compiled(), REDACTED) : text;
    return redactShapes(out);
  }

  /**
   * Returns a deep copy of `value` with values at `sensitivePointers` (also tried relative to an
   * artifact's `data`) replaced by `mask`, values under sensitive keys too (numbers and booleans
   * kept), and every other string passed through {@link redactText}.
   */
  redactValue<T>(value: T, sensitivePointers: readonly string[] = [], mask: string = REDACTED): T {
    return this.redactMarked(value, pointerMatcher(sensitivePointers.flatMap((p) => [p, `/data${p}`, ...(p.startsWith('/data/') ? [p.slice(5)] : [])])), mask);
  }

  /** {@link redactValue} with the marked places given as a test of each value's pointer. */
  redactMarked<T>(value: T, isMarked: (pointer: string) => boolean, mask: string = REDACTED): T {
    const walk = (v: unknown, pointer: string): unknown => {
      if (pointer !== '' && isMarked(pointer) && v !== undefined && v !== null) return mask;
      if (typeof v === 'string') return this.redactText(v);
      if (Array.isArray(v)) return v.map((x, i) => walk(x, `${pointer}/${i}`));
      if (v && typeof v === 'object') {
        const out: Record<string, unknown> = {};
        for (const [k, child] of Object.entries(v)) {
          const secretShaped = child !== null && (typeof child === 'string' || typeof child === 'object');
          out[k] = secretShaped && isSensitiveKey(k) ? mask : walk(child, `${pointer}/${escapeToken(k)}`);
        }
        return out;
      }
      return v;
    };
    return walk(value, '') as T;
  }
}

/**
 * A copy of `shown` (a whole record, or some of its members) fit for the audit log or an API
 * answer: the values at `pointers` (pointers into the record: `$md.sensitive` params and
 * artifact fields) replaced by `mask`, every secret found at those pointers in `source` (the
 * whole record) blanked wherever else it appears (a submitted answer, an error message), values
 * under sensitive keys masked and secret shapes in text blanked.
 */
export function redactRecord<T>(shown: T, pointers: readonly string[], source: unknown = shown, mask: string = REDACTED): T {
  const redactor = new Redactor();
  for (const p of pointers) for (const v of valuesAtPointer(source, p)) if (v !== undefined && v !== null) for (const leaf of leaves(v)) redactor.addSecret(leaf);
  return redactor.redactMarked(shown, pointerMatcher(pointers), mask);
}
