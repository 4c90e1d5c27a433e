/**
 * The bundle registry: Massdriver-compatible bundles and artifact definitions, `$ref`
 * resolution, linting, and params/artifact validation. See {@link BundleRegistry}.
 */
export { BundleRegistry, type BundleRegistryOptions, type BundleLoadResult } from './bundle-registry.ts';
export { SchemaValidator, translatePattern, prepareSchema, MASSDRIVER_KEYWORDS } from './schema-validator.ts';
export { RefResolver, classifyRef, definitionNameOf, isResourceType, type RefTarget } from './ref-resolver.ts';
export { sensitivePointers } from './sensitive.ts';
export { compareSemver, isSemver } from './semver.ts';
export { getAtPointer, joinPointer, splitPointer, escapeToken } from './json-pointer.ts';
