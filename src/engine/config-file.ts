/**
 * Reading the YAML files configuration points at (policy, directory, surface mappings): one rule
 * for every file, so a bad one is always reported the same way, naming the variable that pointed
 * at it. Paths are relative to the working directory; the shipped defaults (`examples/...`) are
 * also found from the repository root, so the CLI works from any directory.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from './errors.ts';

/** The repository root, found from this file. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Reads a YAML file named by `variable`; relative paths fall back to the repository root. */
export async function readConfigYaml(path: string, variable: string): Promise<unknown> {
  const candidates = isAbsolute(path) ? [path] : [resolve(path), join(REPO_ROOT, path)];
  for (const candidate of candidates) {
    let text: string;
    try {
      text = await readFile(candidate, 'utf8');
    } catch {
      continue;
    }
    return parseYaml(text);
  }
  throw new ConfigError(variable, `cannot read ${path}`);
}

/** Reads and validates a YAML configuration file; the first problem is named by its JSON pointer. */
export async function loadConfigFile<S extends z.ZodType>(path: string, variable: string, schema: S): Promise<z.output<S>> {
  const parsed = schema.safeParse(await readConfigYaml(path, variable));
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new ConfigError(variable, `${path}: /${i.path.join('/')} ${i.message}`);
  }
  return parsed.data;
}
