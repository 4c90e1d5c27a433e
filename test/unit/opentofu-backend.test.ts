import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig, stateBackendOf } from '../../src/config.ts';
import { ConfigError } from '../../src/engine/errors.ts';
import { BACKEND_CONFIG_FILE, backendFiles, commandLines, stateName } from '../../src/provisioners/opentofu.ts';

const STATE = '/srv/ts/state/pkg-checkout-db/src/terraform.tfstate';

test('local state (the default): -state per package and step, no backend files', () => {
  const backend = stateBackendOf(loadConfig({}));
  assert.deepEqual(backend, { type: 'local' });
  assert.equal(backendFiles(backend, 'p/s'), undefined);
  const cmd = commandLines(backend, STATE, 'apply');
  assert.deepEqual(cmd.init, ['init', '-input=false', '-no-color']);
  assert.deepEqual(cmd.plan, ['plan', '-input=false', '-no-color', '-out=tfplan', `-state=${STATE}`]);
  assert.deepEqual(cmd.apply, ['apply', '-input=false', '-no-color', `-state=${STATE}`, 'tfplan']);
});

test('pg backend from the configuration: a schema per package and step, init reads the backend file, no -state', () => {
  const backend = stateBackendOf(loadConfig({ TOFU_STATE_BACKEND: 'pg', TOFU_STATE_PG_CONN_STR: 'postgres://tofu:pg-secret-77@127.0.0.1:5432/ts' }));
  const name = stateName('/srv/ts/state/pkg-checkout-db/src');
  assert.equal(name, 'pkg-checkout-db/src');
  const files = backendFiles(backend, name)!;
  assert.equal(files.override, 'terraform {\n  backend "pg" {}\n}\n');
  assert.equal(files.config, 'conn_str = "postgres://tofu:pg-secret-77@127.0.0.1:5432/ts"\nschema_name = "ts_state_pkg_checkout_db_src"\n');
  const cmd = commandLines(backend, STATE, 'destroy');
  assert.deepEqual(cmd.init, ['init', '-input=false', '-no-color', '-reconfigure', `-backend-config=${BACKEND_CONFIG_FILE}`]);
  assert.deepEqual(cmd.plan, ['plan', '-input=false', '-no-color', '-out=tfplan', '-destroy']);
  assert.deepEqual(cmd.apply, ['apply', '-input=false', '-no-color', 'tfplan']);
  assert.deepEqual(cmd.output, ['output', '-json', '-no-color']);
});

test('http backend from the configuration: one address per package and step, locked at the same address', () => {
  const backend = stateBackendOf(
    loadConfig({ TOFU_STATE_BACKEND: 'http', TOFU_STATE_HTTP_ADDRESS: 'https://state.internal/tf/', TOFU_STATE_HTTP_USERNAME: 'ts', TOFU_STATE_HTTP_PASSWORD: 'http-secret-88' }),
  );
  const files = backendFiles(backend, 'pkg-a/net')!;
  assert.equal(files.override, 'terraform {\n  backend "http" {}\n}\n');
  assert.equal(
    files.config,
    [
      'address = "https://state.internal/tf/pkg-a/net"',
      'lock_address = "https://state.internal/tf/pkg-a/net"',
      'unlock_address = "https://state.internal/tf/pkg-a/net"',
      'username = "ts"',
      'password = "http-secret-88"',
      '',
    ].join('\n'),
  );
});

test('a remote backend without its address refuses to start, naming the variable and not the value', () => {
  assert.throws(() => loadConfig({ TOFU_STATE_BACKEND: 'pg' }), (e: unknown) => e instanceof ConfigError && e.variable === 'TOFU_STATE_PG_CONN_STR');
  assert.throws(() => loadConfig({ TOFU_STATE_BACKEND: 'http' }), (e: unknown) => e instanceof ConfigError && e.variable === 'TOFU_STATE_HTTP_ADDRESS');
  assert.throws(
    () => loadConfig({ TOFU_STATE_BACKEND: 'pg', TOFU_STATE_PG_CONN_STR: 'mysql://u:leak-me@h/db' }),
    (e: unknown) => e instanceof ConfigError && e.variable === 'TOFU_STATE_PG_CONN_STR' && !e.message.includes('leak-me'),
  );
});
