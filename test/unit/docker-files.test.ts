import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { parse } from 'yaml';

// No Docker engine runs here, so the files are checked by parsing them.
const ROOT = new URL('../../', import.meta.url);

test('Dockerfile is multi-stage on Node 22 LTS and runs as a non-root user', () => {
  const lines = readFileSync(new URL('Dockerfile', ROOT), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const froms = lines.filter((l) => /^FROM\s/i.test(l));
  assert.ok(froms.length >= 2, 'multi-stage');
  for (const f of froms) assert.match(f, /^FROM node:22[-\w.]*\s+AS\s+\w+/i);
  const user = lines.filter((l) => /^USER\s/i.test(l)).pop();
  assert.ok(user && !/\broot\b|\b0\b/.test(user), `last USER is non-root: ${user}`);
  assert.ok(lines.some((l) => /^COPY --from=/i.test(l)), 'runtime copies from the build stage');
  // The last CMD is the image's (a HEALTHCHECK's continuation line starts with CMD too).
  const cmd = lines.filter((l) => /^CMD\s/i.test(l)).pop();
  assert.ok(cmd && cmd.includes('dist/main.js'), 'the image runs the compiled service');
  for (const c of lines.filter((l) => /^COPY\s(?!--from)/i.test(l))) {
    const srcs = c.replace(/^COPY\s+/i, '').split(/\s+/).slice(0, -1);
    for (const s of srcs) assert.ok(existsSync(new URL(s, ROOT)), `COPY source ${s} exists`);
  }
});

test('the image checks its own health on /readyz; the build context leaves out dependencies, data, tests and git', () => {
  const dockerfile = readFileSync(new URL('Dockerfile', ROOT), 'utf8');
  const check = /^HEALTHCHECK\s(?:.*\\\n)*.*$/m.exec(dockerfile)?.[0];
  assert.ok(check, 'a HEALTHCHECK instruction');
  assert.match(check, /CMD \[/);
  assert.match(check, /\/readyz/);
  const ignored = readFileSync(new URL('.dockerignore', ROOT), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const entry of ['node_modules', '.data', '.git', 'test']) assert.ok(ignored.includes(entry), `.dockerignore lists ${entry}`);
  const compose = parse(readFileSync(new URL('docker-compose.yml', ROOT), 'utf8')) as { services: Record<string, { healthcheck?: { disable?: boolean } }> };
  assert.equal(compose.services.worker?.healthcheck?.disable, true, 'the worker, which runs no HTTP listener, turns the check off');
});

test('docker-compose.yml runs Redis with AOF, the service and a worker', () => {
  const doc = parse(readFileSync(new URL('docker-compose.yml', ROOT), 'utf8')) as {
    services: Record<string, { image?: string; build?: string; command?: string[]; environment?: Record<string, string>; depends_on?: unknown }>;
  };
  const { redis, service, worker } = doc.services;
  assert.ok(redis && service && worker);
  assert.match(redis.image!, /^redis:/);
  assert.ok(redis.command!.join(' ').includes('--appendonly yes'));
  for (const s of [service, worker]) {
    assert.equal(s.build, '.');
    assert.equal(s.environment!.REDIS_URL, 'redis://redis:6379');
    assert.ok(s.depends_on);
  }
  assert.ok(service.command!.join(' ').includes('dist/main.js'));
  assert.ok(worker.command!.join(' ').includes('dist/worker-main.js'));
});
