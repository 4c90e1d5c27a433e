/**
 * How the CLI's modules import each other, read from the source: the CLI never reaches the
 * composition root (the runtime comes in through `src/cli.ts`), its files import no circle, and
 * `--help` loads the dispatcher and its table only, not a command group, the workflow or the engine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI_DIR = join(ROOT, 'src/surfaces/cli');

interface Edge {
  to: string;
  /** `import()` inside a function: loaded when it runs. */
  dynamic: boolean;
}

/** Whether an import declaration loads its module at run time (type-only imports do not). */
function loadsModule(node: ts.ImportDeclaration): boolean {
  const clause = node.importClause;
  if (!clause) return true;
  if (clause.isTypeOnly) return false;
  if (clause.name) return true;
  const bindings = clause.namedBindings;
  if (!bindings || ts.isNamespaceImport(bindings)) return true;
  return bindings.elements.length === 0 || bindings.elements.some((e) => !e.isTypeOnly);
}

/** The project files `file` imports (relative specifiers only), statically or with `import()`. */
function importsOf(file: string): Edge[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const edges: Edge[] = [];
  const add = (specifier: string, dynamic: boolean) => {
    if (specifier.startsWith('.')) edges.push({ to: resolve(dirname(file), specifier), dynamic });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && loadsModule(node) && ts.isStringLiteral(node.moduleSpecifier)) add(node.moduleSpecifier.text, false);
    if (ts.isExportDeclaration(node) && !node.isTypeOnly && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) add(node.moduleSpecifier.text, false);
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      if (arg && ts.isStringLiteral(arg)) add(arg.text, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return edges;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const rel = (p: string) => relative(ROOT, p);

test('no CLI file imports the composition root; the runtime reaches the CLI only through src/cli.ts, which nothing in src imports', () => {
  const runtime = join(ROOT, 'src/runtime.ts');
  for (const file of tsFiles(CLI_DIR)) {
    assert.ok(!importsOf(file).some((e) => e.to === runtime), `${rel(file)} imports src/runtime.ts`);
  }
  const entry = join(ROOT, 'src/cli.ts');
  for (const file of tsFiles(join(ROOT, 'src'))) {
    assert.ok(!importsOf(file).some((e) => e.to === entry), `${rel(file)} imports src/cli.ts`);
  }
});

test('the CLI files import no circle, counting import() too', () => {
  const graph = new Map(tsFiles(CLI_DIR).map((f) => [f, importsOf(f).map((e) => e.to).filter((t) => t.startsWith(CLI_DIR))]));
  const done = new Set<string>();
  const walk = (file: string, path: string[]): void => {
    if (path.includes(file)) assert.fail(`import circle: ${[...path.slice(path.indexOf(file)), file].map(rel).join(' -> ')}`);
    if (done.has(file)) return;
    for (const next of graph.get(file) ?? []) walk(next, [...path, file]);
    done.add(file);
  };
  for (const file of graph.keys()) walk(file, []);
  assert.ok(graph.size >= 8, `found ${graph.size} CLI files`);
});

test('--help loads the dispatcher and the command table only: no command group, no workflow, no engine but its typed errors', () => {
  const loaded = new Set<string>();
  const visit = (file: string): void => {
    if (loaded.has(file)) return;
    loaded.add(file);
    for (const e of importsOf(file)) if (!e.dynamic) visit(e.to);
  };
  visit(join(ROOT, 'src/cli.ts'));
  const files = [...loaded].map(rel).sort();
  const allowed = (f: string) => f === 'src/cli.ts' || f === 'src/engine/errors.ts' || (f.startsWith('src/surfaces/cli/') && !f.endsWith('-commands.ts'));
  assert.deepEqual(files.filter((f) => !allowed(f)), []);
  assert.ok(files.includes('src/surfaces/cli/commands.ts'), files.join(', '));
});
