import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BundleError } from '../../src/engine/errors.ts';
import { systemClock } from '../../src/engine/model.ts';
import { Redactor } from '../../src/engine/redact.ts';
import { parseScanners, runScanners, severityFor } from '../../src/provisioners/scanners.ts';

test('severity follows environment labels: the strictest applying label wins, else default, else warn', () => {
  const s = { severity: { production: 'fail' as const, pci: 'warn' as const, default: 'warn' as const } };
  assert.equal(severityFor(s, { production: true }), 'fail');
  assert.equal(severityFor(s, { production: 'true', pci: true }), 'fail');
  assert.equal(severityFor(s, { production: false }), 'warn');
  assert.equal(severityFor({ severity: { default: 'fail' } }, {}), 'fail');
  assert.equal(severityFor({ severity: {} }, { production: true }), 'warn');
});

test('a malformed scanners block is a BundleError naming the entry', () => {
  assert.deepEqual(parseScanners({ raw: {}, file: 'f' }), []);
  assert.throws(() => parseScanners({ raw: { scanners: [{ name: 'ok', command: 'true' }, { name: 'x', command: [], severity: { production: 'explode' } }] }, file: 'f' }), (err: unknown) => {
    assert.ok(err instanceof BundleError);
    const pointers = err.issues.map((i) => i.pointer);
    assert.ok(pointers.includes('/scanners/1/command'), pointers.join());
    assert.ok(pointers.includes('/scanners/1/severity/production'), pointers.join());
    return true;
  });
});

test('scanners get MD_PLAN_FILE; findings text becomes the (redacted) reason', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ts-scan-'));
  const planFile = join(dir, 'plan.json');
  await writeFile(planFile, JSON.stringify({ format_version: '1.0', resource_changes: [] }));
  const bundle = {
    dir,
    file: join(dir, 'massdriver.yaml'),
    raw: {
      scanners: [
        { name: 'reads-plan', command: 'test -s "$MD_PLAN_FILE" && grep -q format_version "$MD_PLAN_FILE"' },
        { name: 'finds', command: ['sh', '-c', 'echo "public bucket; api_key=AKIA0000SECRET"; exit 2'], severity: { production: 'fail' } },
      ],
    },
  };
  const decisions = await runScanners({ bundle, labels: { production: true }, planFiles: [{ step: 'src', file: planFile }], clock: systemClock, redactor: new Redactor(), baseEnv: { PATH: process.env.PATH } });
  assert.deepEqual(decisions.map((d) => [d.rule, d.outcome]), [['scanner:reads-plan', 'allow'], ['scanner:finds', 'deny']]);
  assert.equal(decisions[1].reason, 'public bucket; api_key=[redacted]');
});
