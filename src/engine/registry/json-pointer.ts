/**
 * JSON pointer helpers (RFC 6901). Every problem the registry reports carries a pointer, so
 * these are shared by the loader, the `$ref` resolver and the validators.
 */

/** Escapes one reference token (`~` → `~0`, `/` → `~1`). */
export function escapeToken(token: string | number): string {
  return String(token).replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Joins a parent pointer and child tokens: `join('/a', 'b/c')` → `/a/b~1c`. */
export function joinPointer(parent: string, ...tokens: (string | number)[]): string {
  return parent + tokens.map((t) => '/' + escapeToken(t)).join('');
}

/** Splits a pointer into unescaped tokens. `''` and `'/'`-less input give `[]`. */
export function splitPointer(pointer: string): string[] {
  if (pointer === '' || pointer === '#') return [];
  const p = pointer.startsWith('#') ? decodeURIComponent(pointer.slice(1)) : pointer;
  if (p === '') return [];
  return p
    .replace(/^\//, '')
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Reads the value at `pointer` inside `doc`; `undefined` when any step is missing. */
export function getAtPointer(doc: unknown, pointer: string): unknown {
  let cur: unknown = doc;
  for (const token of splitPointer(pointer)) {
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(token)) return undefined;
      cur = cur[Number(token)];
    } else if (cur !== null && typeof cur === 'object' && Object.prototype.hasOwnProperty.call(cur, token)) {
      cur = (cur as Record<string, unknown>)[token];
    } else {
      return undefined;
    }
    if (cur === undefined) return undefined;
  }
  return cur;
}

/** True for a plain JSON object (not an array, not null). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
