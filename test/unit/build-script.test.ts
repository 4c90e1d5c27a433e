/**
 * The build script (`scripts/build.mjs`) on a throwaway project: it compiles src/ to dist/ with
 * relative imports pointing at the compiled files, copies the files a module reads beside itself,
 * builds again only when a source file changed, appeared or went away, and removes what it wrote
 * for a source that is gone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt } from '../../scripts/build.mjs';

function project(): string {
  const root = mkdtempSync(join(tmpdir(), 'build-script-'));
  mkdirSync(join(root, 'src', 'lib', 'templates'), { recursive: true });
  writeFileSync(join(root, 'package.json'), '{"type":"module"}');
  writeFileSync(join(root, 'src', 'main.ts'), "import { greet } from './lib/greet.ts';\nconst who: string = 'dist';\nconsole.log(await greet(who));\n");
  writeFileSync(
    join(root, 'src', 'lib', 'greet.ts'),
    "import { readFile } from 'node:fs/promises';\nexport async function greet(who: string): Promise<string> {\n  const t = await readFile(new URL('./templates/hello.txt', import.meta.url), 'utf8');\n  return t.trim().replace('NAME', who);\n}\n",
  );
  writeFileSync(join(root, 'src', 'lib', 'templates', 'hello.txt'), 'hello NAME\n');
  return root;
}

const run = (root: string) => execFileSync(process.execPath, [join(root, 'dist', 'main.js')], { encoding: 'utf8' }).trim();

test('src/ compiles to plain JavaScript that runs without tsx and finds its templates', async (t) => {
  const root = project();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  assert.equal(await ensureBuilt({ root }), true);
  assert.equal(run(root), 'hello dist');
  assert.ok(existsSync(join(root, 'dist', 'lib', 'templates', 'hello.txt')));
});

test('the build runs again only when src/ changed: an edit, a new file, a removed file', async (t) => {
  const root = project();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  assert.equal(await ensureBuilt({ root }), true);
  assert.equal(await ensureBuilt({ root }), false, 'nothing changed');

  const greet = join(root, 'src', 'lib', 'greet.ts');
  writeFileSync(greet, "export async function greet(who: string): Promise<string> {\n  return `hi ${who}`;\n}\n");
  const later = new Date(Date.now() + 5_000);
  utimesSync(greet, later, later);
  assert.equal(await ensureBuilt({ root }), true, 'an edited file');
  assert.equal(run(root), 'hi dist');

  writeFileSync(join(root, 'src', 'extra.ts'), 'export const extra = 1;\n');
  assert.equal(await ensureBuilt({ root }), true, 'a new file');
  assert.ok(existsSync(join(root, 'dist', 'extra.js')));

  rmSync(join(root, 'src', 'extra.ts'));
  assert.equal(await ensureBuilt({ root }), true, 'a removed file');
  assert.ok(!existsSync(join(root, 'dist', 'extra.js')), 'what was built from a removed file is gone');
  assert.equal(await ensureBuilt({ root }), false);
});

test('two builds at once both finish, one after the other, and leave one good dist/', async (t) => {
  const root = project();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const results = await Promise.all([ensureBuilt({ root }), ensureBuilt({ root })]);
  assert.deepEqual(results.sort(), [false, true], 'the second waits for the first and finds dist/ fresh');
  assert.equal(run(root), 'hello dist');
  assert.ok(!existsSync(join(root, '.dist-lock')));
});

test('without src/ (the image ships dist/ alone) there is nothing to build', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'build-script-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  assert.equal(await ensureBuilt({ root }), false);
});
