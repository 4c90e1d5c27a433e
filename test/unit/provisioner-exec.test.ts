import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeploymentFailedError } from '../../src/engine/errors.ts';
import { systemClock, type StepLogLine } from '../../src/engine/model.ts';
import { Redactor } from '../../src/engine/redact.ts';
import { ExecProvisioner, parseArtifactsOutput } from '../../src/provisioners/exec.ts';
import { inheritedEnv, type StepContext } from '../../src/provisioners/types.ts';

async function ctxFor(config: Record<string, unknown>, redactor = new Redactor()): Promise<{ ctx: StepContext; log: StepLogLine[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'ts-exec-'));
  const workDir = join(dir, 'work');
  await mkdir(workDir);
  const files = { params: join(workDir, 'p.json'), connections: join(workDir, 'c.json'), metadata: join(workDir, 'm.json') };
  for (const f of Object.values(files)) await writeFile(f, '{}');
  const log: StepLogLine[] = [];
  return {
    log,
    ctx: {
      step: { path: 'src', provisioner: 'exec', config },
      stepName: 'src',
      mode: 'apply',
      workDir,
      stateDir: join(dir, 'state'),
      files,
      planFile: join(dir, 'plan.json'),
      artifactNames: [],
      redactor,
      clock: systemClock,
      log: (l) => log.push(l),
      signal: new AbortController().signal,
    },
  };
}

test('inherited environment: PATH, HOME, LANG and TS_TARGET_* only', () => {
  const env = inheritedEnv({ PATH: '/bin', HOME: '/root', LANG: 'C', TS_TARGET_REDIS_URL: 'redis://x', REDIS_URL: 'redis://y', JIRA_TOKEN: 't' });
  assert.deepEqual(env, { PATH: '/bin', HOME: '/root', LANG: 'C', TS_TARGET_REDIS_URL: 'redis://x' });
});

test('inherited environment: only the inherited values are read again while the names stay the same; new and changed ones are seen', () => {
  const vars: NodeJS.ProcessEnv = { PATH: '/bin', HOME: '/root', TS_TARGET_A: 'a' };
  for (let i = 0; i < 30; i++) vars[`OTHER_${i}`] = 'x';
  let reads = 0;
  const env = new Proxy(vars, {
    get(target, key) {
      reads++;
      return Reflect.get(target, key);
    },
  });
  assert.deepEqual(inheritedEnv(env), { PATH: '/bin', HOME: '/root', TS_TARGET_A: 'a' });
  reads = 0;
  assert.deepEqual(inheritedEnv(env), { PATH: '/bin', HOME: '/root', TS_TARGET_A: 'a' });
  assert.equal(reads, 3, 'only PATH, HOME and TS_TARGET_A are read');
  vars.TS_TARGET_A = 'changed';
  vars.TS_TARGET_B = 'b';
  assert.deepEqual(inheritedEnv(env), { PATH: '/bin', HOME: '/root', TS_TARGET_A: 'changed', TS_TARGET_B: 'b' });
  delete vars.TS_TARGET_B;
  vars.OTHER_SWAPPED = 'x';
  assert.deepEqual(inheritedEnv(env), { PATH: '/bin', HOME: '/root', TS_TARGET_A: 'changed' });
});

test('a shell string command runs with /bin/sh -c in the working directory; stderr is logged, stdout is the answer', async () => {
  const p = new ExecProvisioner({ baseEnv: { PATH: process.env.PATH } });
  const { ctx, log } = await ctxFor({
    plan: 'echo "planning in $(basename "$PWD") for $MD_ACTION/$MD_PLAN_MODE" >&2; echo \'{"format_version":"1.0"}\'',
    apply: ['node', '-e', 'process.stderr.write("token=abc12345\\n"); console.log(JSON.stringify({ a: { password: "pw-0000-xyz" } }))'],
    destroy: 'echo bye',
  });
  const { planJson } = await p.plan(ctx);
  assert.equal(planJson.trim(), '{"format_version":"1.0"}');
  assert.ok(log.some((l) => l.stream === 'stderr' && l.line === 'planning in work for plan/apply'));
  const { artifacts } = await p.apply(ctx);
  assert.deepEqual(artifacts, { a: { password: 'pw-0000-xyz' } });
  assert.ok(log.some((l) => l.line === 'token=[redacted]'));
  assert.equal(ctx.redactor.redactText('pw-0000-xyz'), '[redacted]', 'artifact secrets are registered');
  await p.destroy(ctx);
  assert.ok(log.some((l) => l.stream === 'stdout' && l.line === 'bye'), 'destroy stdout is logged');
});

test('an invalid exec config fails naming the step and the field', async () => {
  const p = new ExecProvisioner();
  const { ctx } = await ctxFor({ plan: [], apply: 'true' });
  await assert.rejects(p.plan(ctx), (err: unknown) => {
    assert.ok(err instanceof DeploymentFailedError);
    assert.equal(err.step, 'src');
    assert.match(err.message, /\/config\/plan/);
    assert.match(err.message, /\/config\/destroy/);
    return true;
  });
});

test('a program that cannot be started fails the step', async () => {
  const p = new ExecProvisioner({ baseEnv: { PATH: '/nonexistent' } });
  const { ctx } = await ctxFor({ plan: ['no-such-program-xyz'], apply: 'true', destroy: 'true' });
  await assert.rejects(p.plan(ctx), /step src: plan command ENOENT: cannot run no-such-program-xyz/);
});

test('apply output: empty means no artifacts; stray lines before the JSON are tolerated; non-objects fail', () => {
  const log: StepLogLine[] = [];
  const c = { stepName: 'src', redactor: new Redactor(), log: (l: StepLogLine) => log.push(l), clock: systemClock };
  assert.deepEqual(parseArtifactsOutput('  \n', c), {});
  assert.deepEqual(parseArtifactsOutput('creating user\n{"x":{"a":1}}\n', c), { x: { a: 1 } });
  assert.equal(log[0].line, 'creating user');
  assert.throws(() => parseArtifactsOutput('[1]', c), /apply must print a JSON object/);
  assert.throws(() => parseArtifactsOutput('password=abcdef oops', c), (err: unknown) => {
    assert.ok(err instanceof DeploymentFailedError);
    assert.doesNotMatch(err.excerpt, /abcdef/);
    return true;
  });
});
