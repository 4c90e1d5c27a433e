/** `bundle lint` (one directory, offline: no Redis, no workflow) and `bundle list`. */
import { resolve } from 'node:path';
import { registryForBundleDir } from './bundle-dir.ts';
import type { CommandContext } from './command.ts';
import { issueLine, print } from './io.ts';

/** `bundle lint <dir>`: prints ok (exit 0) or each problem with file and JSON pointer (exit 1). */
export async function bundleLint({ io, args, config }: CommandContext): Promise<number> {
  const dir = args[0];
  if (!dir) {
    io.err('usage: ticket-surface bundle lint <dir>');
    return 2;
  }
  const issues = await registryForBundleDir(config, io.cwd).lint(resolve(io.cwd, dir));
  if (issues.length === 0) {
    io.out('ok');
    return 0;
  }
  for (const i of issues) io.out(issueLine(i, io.cwd));
  io.err(`${issues.length} problem${issues.length === 1 ? '' : 's'}`);
  return 1;
}

/** `bundle list [--json]`: every bundle with its versions, then the problems of those that did not load. */
export async function bundleList({ io, json, config }: CommandContext): Promise<number> {
  const { openRegistry } = await import('../../workflow/bootstrap.ts');
  const { registry, issues } = await openRegistry(config);
  const bundles = [...new Set(registry.list().map((b) => b.name))].sort().map((name) => ({ name, versions: registry.versions(name) }));
  print(io, json, { bundles, issues }, () =>
    bundles.map((b) => `${b.name}  ${b.versions.join(', ')}`).join('\n') +
    (issues.length ? `\n\n${issues.length} bundle problem(s):\n${issues.map((i) => `  ${issueLine(i, io.cwd)}`).join('\n')}` : ''),
  );
  return 0;
}
