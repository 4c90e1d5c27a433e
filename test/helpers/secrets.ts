/**
 * Shared by the secrets and hostile-input tests: a raw dump of everything in a Redis server, and
 * the `secret-probe` bundle, whose exec step copies the params and connections files it is given
 * into `$TS_TARGET_PROBE_OUT` (so a test can see exactly what reached a step), with a policy that
 * lets anyone provision it in `dev` without approval.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';

/** Every key of the server with its type and whole value (SCAN + TYPE + the read command of that type), one block per key. */
export async function dumpRedis(redis: Redis): Promise<string> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', 500);
    cursor = next;
    for (const key of keys) out.push(`${key} (${await redis.type(key)}): ${JSON.stringify(await readKey(redis, key))}`);
  } while (cursor !== '0');
  return out.join('\n');
}

async function readKey(redis: Redis, key: string): Promise<unknown> {
  switch (await redis.type(key)) {
    case 'string':
      return redis.get(key);
    case 'hash':
      return redis.hgetall(key);
    case 'list':
      return redis.lrange(key, 0, -1);
    case 'set':
      return redis.smembers(key);
    case 'zset':
      return redis.zrange(key, '0', '-1', 'WITHSCORES');
    case 'stream':
      return redis.xrange(key, '-', '+');
    default:
      return null;
  }
}

const PROBE_BUNDLE = `name: secret-probe
description: Test bundle. Its step copies the params and connections files it is given into TS_TARGET_PROBE_OUT.
source_url: https://example.invalid/ticket-surface/test/secret-probe
version: 1.0.0
params:
  required: [label]
  properties:
    label:
      type: string
      title: Label
      description: Free text (hostile-input tests put shell metacharacters here).
      maxLength: 4000
    api_secret:
      type: string
      title: API secret
      description: Never asked in a ticket; set through the API.
      $md.sensitive: true
      default: not-set
connections:
  required: []
  properties:
    cache:
      $ref: massdriver/redis-authentication
      title: Cache
artifacts:
  required: []
  properties: {}
steps:
  - path: src
    provisioner: exec
    config:
      plan: [node, main.mjs, plan]
      apply: [node, main.mjs, apply]
      destroy: [node, main.mjs, destroy]
      timeout_seconds: 60
`;

const PROBE_STEP = `import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
const action = process.argv[2];
const meta = JSON.parse(readFileSync(process.env.MD_METADATA_FILE, 'utf8')).md_metadata;
const applied = join(process.env.MD_STATE_DIR, 'applied');
const out = process.env.TS_TARGET_PROBE_OUT;
if (action === 'plan') {
  const exists = existsSync(applied);
  const actions = process.env.MD_PLAN_MODE === 'destroy' ? ['delete'] : [exists ? 'update' : 'create'];
  process.stdout.write(JSON.stringify({ format_version: '1.2', resource_changes: [{ address: 'probe_record.main', mode: 'managed', type: 'probe_record', name: 'main', change: { actions, before: exists ? {} : null, after: {} } }] }));
} else if (action === 'apply') {
  copyFileSync(process.env.MD_PARAMS_FILE, join(out, meta.package + '.params.json'));
  copyFileSync(process.env.MD_CONNECTIONS_FILE, join(out, meta.package + '.connections.json'));
  writeFileSync(applied, '1');
  process.stderr.write('probe applied\\n');
  process.stdout.write('{}');
} else {
  rmSync(applied, { force: true });
}
`;

const PROBE_POLICY = `version: 1
time_zone: Europe/Berlin
environments:
  - name: dev
    match: { names: [dev] }
    requesters: anyone
    approvals: none
`;

/** Writes the probe bundle (under `<root>/bundles`) and its policy; returns BUNDLE_PATH and POLICY_FILE values. */
export async function writeProbeFixtures(root: string): Promise<{ bundlePath: string; policyFile: string }> {
  const bundlePath = join(root, 'bundles');
  await mkdir(join(bundlePath, 'secret-probe', 'src'), { recursive: true });
  await writeFile(join(bundlePath, 'secret-probe', 'massdriver.yaml'), PROBE_BUNDLE);
  await writeFile(join(bundlePath, 'secret-probe', 'src', 'main.mjs'), PROBE_STEP);
  const policyFile = join(root, 'policy.yaml');
  await writeFile(policyFile, PROBE_POLICY);
  return { bundlePath, policyFile };
}
