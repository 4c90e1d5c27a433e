/**
 * JSON pointer helpers (RFC 6901) for the flattened param keys of a form.
 */

/** Splits a pointer into unescaped segments; `''` gives `[]`. */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`not a JSON pointer: "${pointer}"`);
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Joins segments into a pointer. */
export function toPointer(segments: readonly (string | number)[]): string {
  return segments.map((s) => '/' + String(s).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

/** Appends one segment to a pointer. */
export function childPointer(parent: string, segment: string | number): string {
  return parent + toPointer([segment]);
}

/** The value at `pointer` in `doc`, or undefined. */
export function getAt(doc: unknown, pointer: string): unknown {
  let cur: unknown = doc;
  for (const seg of parsePointer(pointer)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

/** True when `pointer` names a value present in `doc`. */
export function hasAt(doc: unknown, pointer: string): boolean {
  const segs = parsePointer(pointer);
  let cur: unknown = doc;
  for (const seg of segs) {
    if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, seg)) return false;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return true;
}

/** Sets `value` at `pointer` in `doc`, creating plain objects on the way. */
export function setAt(doc: Record<string, unknown>, pointer: string, value: unknown): void {
  const segs = parsePointer(pointer);
  if (segs.length === 0) throw new Error('cannot set the root');
  let cur: Record<string, unknown> = doc;
  for (const seg of segs.slice(0, -1)) {
    const next = cur[seg];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) cur[seg] = {};
    cur = cur[seg] as Record<string, unknown>;
  }
  cur[segs[segs.length - 1]] = value;
}

/** Removes the value at `pointer`, if present. */
export function deleteAt(doc: Record<string, unknown>, pointer: string): void {
  const segs = parsePointer(pointer);
  let cur: unknown = doc;
  for (const seg of segs.slice(0, -1)) {
    if (cur === null || typeof cur !== 'object') return;
    cur = (cur as Record<string, unknown>)[seg];
  }
  if (cur !== null && typeof cur === 'object') delete (cur as Record<string, unknown>)[segs[segs.length - 1]];
}

/** True when `pointer` equals `ancestor` or lies below it. */
export function isWithin(pointer: string, ancestor: string): boolean {
  return pointer === ancestor || pointer.startsWith(ancestor + '/');
}

/** Flattens a nested value into leaf pointers (objects are walked, arrays and scalars are leaves). */
export function flatten(value: unknown, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, childPointer(prefix, k), out);
  } else if (prefix !== '') {
    out[prefix] = value;
  }
  return out;
}
