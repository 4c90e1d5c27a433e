import { isObject, joinPointer } from './json-pointer.ts';

/**
 * JSON pointers (into a value that satisfies `schema`) of every field marked
 * `"$md.sensitive": true`. Array items and map values use `*` as their token, so
 * `/data/users/*\/password` covers every user. Branches of `oneOf`/`anyOf`/`allOf`/`if`
 * count: a field is sensitive if any shape marks it so. Hiding the values is the job of
 * `engine/redact.ts` (`maskAtPointers`, `redactRecord`).
 */
export function sensitivePointers(schema: unknown): string[] {
  const found = new Set<string>();
  walk(schema, '', found, new Set());
  return [...found].sort();
}

function walk(node: unknown, at: string, found: Set<string>, visiting: Set<unknown>): void {
  if (!isObject(node) || visiting.has(node)) return;
  visiting.add(node);
  if (node['$md.sensitive'] === true) found.add(at);
  if (isObject(node.properties)) for (const [k, v] of Object.entries(node.properties)) walk(v, joinPointer(at, k), found, visiting);
  if (isObject(node.patternProperties)) for (const v of Object.values(node.patternProperties)) walk(v, joinPointer(at, '*'), found, visiting);
  if (isObject(node.additionalProperties)) walk(node.additionalProperties, joinPointer(at, '*'), found, visiting);
  if (Array.isArray(node.items)) for (const v of node.items) walk(v, joinPointer(at, '*'), found, visiting);
  else if (isObject(node.items)) walk(node.items, joinPointer(at, '*'), found, visiting);
  for (const k of ['oneOf', 'anyOf', 'allOf']) if (Array.isArray(node[k])) for (const v of node[k] as unknown[]) walk(v, at, found, visiting);
  for (const k of ['if', 'then', 'else', 'not']) walk(node[k], at, found, visiting);
  if (isObject(node.dependencies)) for (const v of Object.values(node.dependencies)) walk(v, at, found, visiting);
  visiting.delete(node);
}
