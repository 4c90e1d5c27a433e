import { resolve } from 'node:path';
import type { Config } from '../../config.ts';
import { BundleRegistry } from '../../engine/registry/index.ts';

/**
 * A registry with no bundles of its own, for loading or linting one bundle directory named on
 * the command line (artifact definitions and the schema mirror resolved from the working directory).
 */
export function registryForBundleDir(config: Config, cwd: string): BundleRegistry {
  return new BundleRegistry({
    bundlePaths: [],
    artifactDefinitionPaths: config.ARTIFACT_DEFINITIONS_PATH.map((p) => resolve(cwd, p)),
    ...(config.SCHEMA_MIRROR ? { schemaMirror: resolve(cwd, config.SCHEMA_MIRROR) } : {}),
    allowNetwork: config.SCHEMA_ALLOW_NETWORK,
  });
}
