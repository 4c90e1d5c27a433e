/**
 * Patterns as bundles write them. Massdriver bundles sometimes use POSIX bracket classes
 * (`[^[:space:]]`), which ECMAScript and Java read as something else entirely; the registry's
 * translation is used everywhere here so that the form, ajv and a surface's validation regex
 * all agree.
 */
import { translatePattern } from '../engine/registry/index.ts';

export { translatePattern };

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
