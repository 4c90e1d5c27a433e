/**
 * Patterns as bundles write them. Massdriver bundles sometimes use POSIX bracket classes
 * (`[^[:space:]]`), which ECMAScript and Java read as something else entirely; they are
 * translated here so that the form, ajv and a surface's validation regex all agree.
 */

const POSIX_CLASSES: Record<string, string> = {
  alnum: 'a-zA-Z0-9',
  alpha: 'a-zA-Z',
  blank: ' \\t',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '\\x21-\\x7e',
  lower: 'a-z',
  print: '\\x20-\\x7e',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\s',
  upper: 'A-Z',
  word: '\\w',
  xdigit: '0-9A-Fa-f',
};

/** Replaces POSIX bracket classes (`[:space:]` inside `[...]`) with ECMAScript equivalents. */
export function translatePattern(pattern: string): string {
  return pattern.replace(/\[:([a-z]+):\]/g, (whole, name: string) => POSIX_CLASSES[name] ?? whole);
}

/** Compiles a schema pattern the way validation does (translated, no unicode flag). Throws on a bad pattern. */
export function compilePattern(pattern: string): RegExp {
  return new RegExp(translatePattern(pattern));
}

/** True when `value` matches `pattern` (a bad pattern never matches). */
export function matchesPattern(pattern: string, value: string): boolean {
  try {
    return compilePattern(pattern).test(value);
  } catch {
    return false;
  }
}
