// Form overlays: their own JSON Schema, and errors that name the file, the line and the key.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JsonSchema } from '../../src/engine/model.ts';
import { ValidationError, type FieldIssue } from '../../src/engine/errors.ts';
import { buildForm } from '../../src/forms/build-form.ts';
import { OverlayError } from '../../src/forms/errors.ts';
import { findOverlayFile, loadOverlay, parseOverlay } from '../../src/forms/overlay.ts';
import { inlineBundle } from '../fixtures/forms/inline-bundle.ts';

const FILE = 'forms/demo.yaml';

const params: JsonSchema = {
  type: 'object',
  required: ['size', 'zone', 'name'],
  properties: {
    size: { type: 'integer', title: 'Size', minimum: 10 },
    zone: { type: 'string', enum: ['us-east-1a', 'us-east-1b'] },
    name: { type: 'string', default: 'db' },
    storage: { type: 'object', properties: { iops: { type: 'integer' } } },
    secret: { type: 'string', '$md.sensitive': true },
  },
};

/** The issues of the OverlayError `fn` throws. */
function issuesOf(fn: () => unknown): FieldIssue[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof OverlayError, `expected OverlayError, got ${err}`);
    assert.ok(err instanceof ValidationError, 'an OverlayError is a ValidationError (a user error)');
    return err.issues;
  }
  assert.fail('expected an OverlayError');
}

describe('overlay: schema errors name file, line and key', () => {
  it('accepts a well-formed overlay', () => {
    const o = parseOverlay('bundle: demo\ntitle: Demo DB\nfields:\n  - param: /size\n    label: Size (GiB)\nfixed:\n  /zone: us-east-1a\n', FILE);
    assert.equal(o.doc.title, 'Demo DB');
    assert.equal(o.lineOf(['fields', 0, 'label']), 5);
    assert.equal(o.lineOf(['fixed', '/zone']), 7);
  });

  it('reports an unknown key on its line', () => {
    const issues = issuesOf(() => parseOverlay('bundle: demo\nfields:\n  - param: /size\n    lable: Size\n', FILE));
    assert.deepEqual(
      issues.map((i) => [i.file, i.line, i.field, i.message]),
      [[FILE, 4, 'fields[0].lable', 'unknown key "lable"']],
    );
  });

  it('reports a bad option source and a missing bundle key', () => {
    const issues = issuesOf(() => parseOverlay('title: x\nfields:\n  - param: /zone\n    options: { source: versoins, bundle: a }\n', FILE));
    const messages = issues.map((i) => `${i.line}:${i.field}: ${i.message}`);
    assert.ok(messages.includes('1:(top level): missing key "bundle"'), messages.join('\n'));
    assert.ok(messages.some((m) => m.startsWith('4:fields[0].options')), messages.join('\n'));
  });

  it('reports YAML syntax errors with their line', () => {
    const issues = issuesOf(() => parseOverlay('bundle: demo\nfields:\n  - param: /size\n   label: [unclosed\n', FILE));
    assert.ok(issues.length > 0);
    assert.ok(issues.every((i) => i.file === FILE && typeof i.line === 'number' && i.line >= 3), JSON.stringify(issues));
    assert.match(issues[0].message, /^YAML: /);
  });

  it('puts file:line in the error message', () => {
    try {
      parseOverlay('bundle: demo\nbogus: 1\n', FILE);
      assert.fail('should throw');
    } catch (err) {
      assert.match((err as Error).message, /forms\/demo\.yaml:2: bogus: unknown key "bogus"/);
    }
  });
});

describe('overlay: problems against the bundle', () => {
  const bundle = inlineBundle(params);

  it('names an unknown param with its line and a suggestion', () => {
    const overlay = parseOverlay('bundle: demo\nfields:\n  - param: /size\n  - param: /zoen\nfixed:\n  /zone: us-east-1a\n', FILE);
    const issues = issuesOf(() => buildForm(bundle, overlay));
    assert.deepEqual(
      issues.map((i) => [i.line, i.field, i.message]),
      [[4, 'fields[1].param', 'unknown param /zoen: bundle demo has no such property (did you mean /zone?)']],
    );
  });

  it('refuses leaving a required param without default unanswerable', () => {
    const overlay = parseOverlay('bundle: demo\nfields:\n  - param: /size\n', FILE);
    const issues = issuesOf(() => buildForm(bundle, overlay));
    assert.deepEqual(
      issues.map((i) => [i.line, i.message]),
      [[2, 'required param /zone is neither asked nor fixed and has no default: add it to fields or fixed']],
    );
  });

  it('refuses a fixed value the bundle does not allow, a wrong bundle name, asking a sensitive param and asking a fixed one', () => {
    const overlay = parseOverlay(
      ['bundle: other', 'fields:', '  - param: /size', '  - param: /secret', '  - param: /zone', 'fixed:', '  /zone: mars-1a', '  /storage/iops: 3000'].join('\n'),
      FILE,
    );
    const issues = issuesOf(() => buildForm(bundle, overlay));
    const byLine = issues.map((i) => `${i.line}: ${i.message}`);
    assert.ok(byLine.includes('1: names bundle "other" but is applied to bundle "demo"'), byLine.join('\n'));
    assert.ok(byLine.some((l) => l.startsWith('4: param /secret is sensitive')), byLine.join('\n'));
    assert.ok(byLine.some((l) => l.startsWith('5: param /zone is both asked and fixed')), byLine.join('\n'));
    assert.ok(byLine.some((l) => l.startsWith('7: fixed value for /zone is not allowed by the bundle')), byLine.join('\n'));
    assert.equal(issues.length, 4);
  });

  it('supplies fixed values, omits unlisted optional params, and relabels', () => {
    const overlay = parseOverlay('bundle: demo\nfields:\n  - param: /size\n    label: Size (GiB)\n    help: How big.\nfixed:\n  /zone: us-east-1b\n', FILE);
    const form = buildForm(bundle, overlay);
    assert.deepEqual(form.fields.map((f) => [f.key, f.label, f.help]), [['/size', 'Size (GiB)', 'How big.']]);
    assert.deepEqual(form.fixed, [{ pointer: '/zone', value: 'us-east-1b', immutable: false }]);
    assert.deepEqual(form.omitted.map((o) => [o.pointer, o.reason]).sort(), [
      ['/name', 'overlay'],
      ['/secret', 'sensitive'],
      ['/storage/iops', 'overlay'],
    ]);
    assert.equal(form.overlayFile, FILE);
  });

  it('loads the example overlay from disk and finds overlays by bundle name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'forms-'));
    try {
      await writeFile(join(dir, 'demo.yml'), 'bundle: demo\nfixed:\n  /zone: us-east-1a\n');
      const file = await findOverlayFile(dir, 'demo');
      assert.equal(file, join(dir, 'demo.yml'));
      assert.equal(await findOverlayFile(dir, 'nope'), undefined);
      const overlay = await loadOverlay(file!);
      assert.equal(overlay.file, file);
      assert.equal(buildForm(bundle, overlay).fixed[0].value, 'us-east-1a');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const example = await loadOverlay(fileURLToPath(new URL('../fixtures/forms/postgres.yaml', import.meta.url)));
    assert.equal(example.doc.bundle, 'postgres');
  });
});
