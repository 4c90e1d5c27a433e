#!/usr/bin/env node
// Compiles src/ to dist/ (one JavaScript file per TypeScript file, imports rewritten from .ts to
// .js, nothing bundled), so `npm start`, the worker, the CLI and the image run plain JavaScript.
// dist/ mirrors src/ one directory deep, so every path a module finds from its own location
// (the repository root, package.json, contracts/, examples/) is the same from dist as from src;
// the files src reads next to itself (templates, the policy schema) are copied beside the output.
// Type checking stays with `npm run typecheck`; this only strips types (esbuild, which tsx uses).
//
//   node scripts/build.mjs           build when dist/ is missing or older than src/
//   node scripts/build.mjs --force   build anyway
//
// A stamp in dist/ lists every source file with its size and modification time, so a changed,
// added or removed file makes the build stale. Each output file is written to a temporary name
// and renamed, so a process running from dist/ never reads half a file; concurrent builds (two
// tests, two terminals) wait for one another through a lock directory.
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';

/** The repository this script belongs to: the default root of a build. */
const ROOT = fileURLToPath(new URL('../', import.meta.url));
/** Bump when the build's options change, so existing dist/ folders are rebuilt. */
const BUILD_FORMAT = 'esbuild-per-file-1';
/** Development-only code that imports from outside src/ (the sandboxes); it runs under tsx. */
const EXCLUDED = new Set(['demo']);
/** A lock older than this was left by a build that died; it is taken over. */
const STALE_LOCK_MS = 120_000;

/** Where a build under `root` reads and writes. */
function layout(root) {
  const dist = join(root, 'dist');
  return { src: join(root, 'src'), dist, stamp: join(dist, '.build-stamp'), lock: join(root, '.dist-lock') };
}

/** Every file under src/ that the build reads, as paths relative to src/ (with `/`). */
function sourceFiles(src, dir = src, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (dir === src && EXCLUDED.has(entry.name)) continue;
      sourceFiles(src, path, out);
    } else if (entry.isFile()) out.push(relative(src, path).split(sep).join('/'));
  }
  return out;
}

/** What the stamp records: the build format and every source file's size and mtime. */
function fingerprint(src, files) {
  const lines = files.sort().map((f) => {
    const s = statSync(join(src, f));
    return `${f}\t${s.size}\t${Math.trunc(s.mtimeMs)}`;
  });
  return [BUILD_FORMAT, ...lines].join('\n');
}

function readStamp(stamp) {
  try {
    return readFileSync(stamp, 'utf8');
  } catch {
    return undefined;
  }
}

/** Writes a file whole: to a temporary name beside it, then renamed over it. */
function writeAtomic(path, contents) {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, path);
}

/** An esbuild plugin: relative imports stay imports, of the `.js` file the build writes. */
const keepRelativeImports = {
  name: 'keep-relative-imports',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (args.kind === 'entry-point') return undefined;
      return { path: args.path.replace(/\.ts$/, '.js'), external: true };
    });
  },
};

/** esbuild, as tsx (a dependency) installs it: the same compiler the development runs use. */
function esbuildPath() {
  const tsx = createRequire(import.meta.url).resolve('tsx');
  return pathToFileURL(createRequire(tsx).resolve('esbuild')).href;
}

/** Compiles every TypeScript file and copies every other file of src/ into dist/. */
async function compile({ src, dist }, files) {
  const { build } = await import(esbuildPath());
  const entryPoints = files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).map((f) => join(src, f));
  const result = await build({
    entryPoints,
    outdir: dist,
    outbase: src,
    bundle: true,
    packages: 'external',
    plugins: [keepRelativeImports],
    platform: 'node',
    format: 'esm',
    target: 'node20',
    keepNames: true,
    write: false,
    logLevel: 'error',
  });
  const written = new Set(result.outputFiles.map((out) => out.path));
  for (const out of result.outputFiles) writeAtomic(out.path, out.contents);
  for (const f of files.filter((f) => !f.endsWith('.ts'))) {
    mkdirSync(dirname(join(dist, f)), { recursive: true });
    copyFileSync(join(src, f), join(dist, f));
    written.add(join(dist, f));
  }
  removeLeftovers(dist, written);
}

/** Deletes what an earlier build wrote for source files that no longer exist. */
function removeLeftovers(dir, keep) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) removeLeftovers(path, keep);
    else if (!keep.has(path) && entry.name !== '.build-stamp' && !entry.name.endsWith('.tmp')) rmSync(path, { force: true });
  }
}

/** Takes the build lock, waiting while another build holds it; resolves to a release function. */
async function lock(path) {
  for (;;) {
    try {
      mkdirSync(path);
      return () => rmSync(path, { recursive: true, force: true });
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      try {
        if (Date.now() - statSync(path).mtimeMs > STALE_LOCK_MS) rmSync(path, { recursive: true, force: true });
      } catch {}
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * Makes `root`'s dist/ match its src/: does nothing when the stamp matches (a few milliseconds of `stat`),
 * else compiles under the lock. Resolves to whether this call compiled. Without src/ (the
 * image, which ships dist/ only) there is nothing to compare and nothing is done.
 */
export async function ensureBuilt({ root = ROOT, force = false } = {}) {
  const where = layout(root);
  let files;
  try {
    files = sourceFiles(where.src);
  } catch (err) {
    if (err.code === 'ENOENT') return false;
    throw err;
  }
  if (!force && readStamp(where.stamp) === fingerprint(where.src, files)) return false;
  const release = await lock(where.lock);
  try {
    files = sourceFiles(where.src);
    const current = fingerprint(where.src, files);
    if (!force && readStamp(where.stamp) === current) return false;
    await compile(where, files);
    writeAtomic(where.stamp, current);
    return true;
  } finally {
    release();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = Date.now();
  const built = await ensureBuilt({ force: process.argv.includes('--force') });
  if (built) console.error(`built dist/ in ${Date.now() - started} ms`);
}
