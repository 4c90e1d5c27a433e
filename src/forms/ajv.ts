/**
 * One ajv configuration for everything the forms room validates (params and overlays), and the
 * pruning that turns ajv's branch-by-branch `oneOf` noise into the errors of the branch a person
 * most likely meant.
 */
import { Ajv, type ErrorObject, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { translatePattern } from './regex.ts';

// ajv-formats is CommonJS; under ESM its default export is the function itself or sits on `.default`.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (a: Ajv) => Ajv;

/** A RegExp engine that reads POSIX bracket classes the way bundle authors meant them. */
const regExp = Object.assign((pattern: string, flags: string) => new RegExp(translatePattern(pattern), flags), {
  code: 'translatedRegExp',
});

/**
 * A fresh ajv instance: all errors, lenient about unknown keywords (bundles carry `$md.*`,
 * `message`, typos such as `max`), formats on, and patterns compiled without the unicode flag
 * because bundle patterns are written for non-unicode engines.
 */
export function createAjv(extra: Options = {}): Ajv {
  const ajv = new Ajv({
    strict: false,
    allErrors: true,
    unicodeRegExp: false,
    validateSchema: false,
    code: { regExp },
    ...extra,
  });
  addFormats(ajv);
  return ajv;
}

/** True for an error that says the data took another branch (a discriminator did not match). */
function isDiscriminatorMiss(e: ErrorObject): boolean {
  return e.keyword === 'const' || e.keyword === 'enum';
}

/**
 * For every failed `oneOf`/`anyOf`, keeps only the errors of the branch the data came closest to
 * (no discriminator mismatch, then fewest errors) and drops the combinator's own error when that
 * branch explains the failure. Errors are otherwise kept in ajv's order.
 */
export function pruneBranchErrors(errors: readonly ErrorObject[]): ErrorObject[] {
  let list = [...errors];
  const combinators = list
    .filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf')
    .sort((a, b) => b.schemaPath.length - a.schemaPath.length);
  for (const comb of combinators) {
    if (!list.includes(comb)) continue;
    const prefix = comb.schemaPath + '/';
    const byBranch = new Map<number, ErrorObject[]>();
    for (const e of list) {
      if (e === comb || !e.schemaPath.startsWith(prefix) || !e.instancePath.startsWith(comb.instancePath)) continue;
      const branch = Number(e.schemaPath.slice(prefix.length).split('/')[0]);
      if (!byBranch.has(branch)) byBranch.set(branch, []);
      byBranch.get(branch)!.push(e);
    }
    if (byBranch.size === 0) continue; // more than one branch passed: the combinator's own error stands
    let best: ErrorObject[] | undefined;
    let bestScore = Infinity;
    for (const errs of byBranch.values()) {
      const score = (errs.some(isDiscriminatorMiss) ? 1000 : 0) + errs.length;
      if (score < bestScore) {
        bestScore = score;
        best = errs;
      }
    }
    const drop = new Set<ErrorObject>();
    for (const errs of byBranch.values()) if (errs !== best) errs.forEach((e) => drop.add(e));
    // When every branch failed on its discriminator, no branch explains it: keep the combinator's error alone.
    if (bestScore >= 1000) best!.forEach((e) => drop.add(e));
    else drop.add(comb);
    list = list.filter((e) => !drop.has(e));
  }
  return list;
}
