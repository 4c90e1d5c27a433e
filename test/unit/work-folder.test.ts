import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyStepFolder, isFolder, isSmallFolder, makePrivateFolder, removeWorkFolder, SMALL_FOLDER, writeStepFile } from '../../src/engine/work-folder.ts';

/** A bundle step folder: a file, an executable script in a subfolder and a relative link. */
function stepFolder(extraFiles = 0): string {
  const dir = mkdtempSync(join(tmpdir(), 'ts-step-src-'));
  writeFileSync(join(dir, 'main.tf'), 'resource "x" "y" {}\n');
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'bin', 'plan.sh'), '#!/bin/sh\n', { mode: 0o755 });
  symlinkSync('main.tf', join(dir, 'link.tf'));
  for (let i = 0; i < extraFiles; i++) writeFileSync(join(dir, `extra-${i}.txt`), String(i));
  return dir;
}

function workDirIn(): string {
  return join(mkdtempSync(join(tmpdir(), 'ts-step-work-')), 'deployment', '0-step');
}

function assertCopied(source: string, workDir: string): void {
  assert.equal(readFileSync(join(workDir, 'main.tf'), 'utf8'), 'resource "x" "y" {}\n');
  assert.equal(statSync(join(workDir, 'bin', 'plan.sh')).mode & 0o777, 0o755);
  assert.ok(lstatSync(join(workDir, 'link.tf')).isSymbolicLink(), 'a link stays a link');
  assert.equal(statSync(join(workDir, '..')).mode & 0o777, 0o700, 'the deployment folder is private');
  // A real copy: what the step writes in its folder never reaches the bundle.
  writeFileSync(join(workDir, 'main.tf'), 'changed by the step');
  assert.equal(readFileSync(join(source, 'main.tf'), 'utf8'), 'resource "x" "y" {}\n');
  assert.notEqual(lstatSync(join(workDir, 'main.tf')).ino, lstatSync(join(source, 'main.tf')).ino);
}

test('a small step folder is copied before copyStepFolder returns, without a round trip through the thread pool', async () => {
  const source = stepFolder();
  const workDir = workDirIn();
  const copying = copyStepFolder(source, workDir);
  assert.ok(existsSync(join(workDir, 'bin', 'plan.sh')), 'copied synchronously');
  await copying;
  assertCopied(source, workDir);
});

test('a step folder with more entries than the small-folder limit is copied asynchronously, to the same result', async () => {
  const source = stepFolder(SMALL_FOLDER.entries);
  assert.equal(isSmallFolder(source), false);
  const workDir = workDirIn();
  const copying = copyStepFolder(source, workDir);
  assert.equal(existsSync(workDir), false, 'not copied on the event loop');
  await copying;
  assertCopied(source, workDir);
  assert.equal(readFileSync(join(workDir, `extra-${SMALL_FOLDER.entries - 1}.txt`), 'utf8'), String(SMALL_FOLDER.entries - 1));
});

test('isSmallFolder counts entries in subfolders and bytes of files, and stops at the first limit passed', () => {
  const source = stepFolder();
  assert.equal(isSmallFolder(source), true);
  assert.equal(isSmallFolder(source, { entries: 3, bytes: 1e6 }), false, 'four entries, bin/plan.sh included');
  assert.equal(isSmallFolder(source, { entries: 100, bytes: 10 }), false, 'main.tf alone is 20 bytes');
});

test('step files are written readable by their owner only, small or large', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-step-files-'));
  const big = 'x'.repeat(300 * 1024);
  await writeStepFile(join(dir, 'params.json'), '{"a":1}');
  await writeStepFile(join(dir, 'plan.json'), big);
  assert.equal(readFileSync(join(dir, 'params.json'), 'utf8'), '{"a":1}');
  assert.equal(readFileSync(join(dir, 'plan.json'), 'utf8'), big);
  for (const f of ['params.json', 'plan.json']) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600);
});

test('removeWorkFolder removes small and large folders with everything in them, and a missing one is fine', async () => {
  for (const extra of [0, SMALL_FOLDER.entries * 2]) {
    const workDir = workDirIn();
    await copyStepFolder(stepFolder(extra), workDir);
    mkdirSync(join(workDir, '.terraform', 'providers'), { recursive: true });
    writeFileSync(join(workDir, '.terraform', 'providers', 'p'), 'binary');
    const deploymentDir = join(workDir, '..');
    await removeWorkFolder(deploymentDir);
    assert.equal(existsSync(deploymentDir), false);
    await removeWorkFolder(deploymentDir);
  }
});

test('isFolder and makePrivateFolder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-state-'));
  const state = join(dir, 'pkg', 'step');
  assert.equal(isFolder(state), false);
  makePrivateFolder(state);
  makePrivateFolder(state);
  assert.equal(isFolder(state), true);
  assert.equal(statSync(state).mode & 0o777, 0o700);
  writeFileSync(join(dir, 'file'), '');
  assert.equal(isFolder(join(dir, 'file')), false);
});
