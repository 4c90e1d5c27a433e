/**
 * A limit on how deeply a JSON request body may nest, next to the limit on its size: the
 * engine copies, validates and audits values by walking them, and a body nested thousands of
 * levels deep (a few kilobytes of brackets) would exhaust the stack there instead of being
 * refused at the door.
 */
import type { RequestHandler } from 'express';
import { ValidationError } from '../../engine/errors.ts';

/** Deepest nesting a request body may have (a bundle's params are a few levels deep). */
export const MAX_JSON_DEPTH = 64;

/** True when `value` nests objects or arrays more than `max` levels deep (checked without recursion). */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (depth >= max) return true;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return false;
}

/** Middleware after the JSON body parser: a body nested deeper than `max` is a 400. */
export function limitJsonDepth(max = MAX_JSON_DEPTH): RequestHandler {
  return (req, _res, next) => {
    if (nestsDeeperThan(req.body, max)) next(new ValidationError(`request body nests deeper than ${max} levels`, [{ pointer: '', message: `must not nest deeper than ${max} levels` }]));
    else next();
  };
}
