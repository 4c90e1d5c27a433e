// checkout-api step: "deploys" this version of checkout-api by writing its release record where
// the running application would announce itself: a row in the `app_releases` table of the
// connected PostgreSQL database and, when a cache is connected, the key
// `<key prefix>app:checkout-api:release` in Redis. Both are written with the credentials the
// connections carry (the artifacts of the connected packages), exactly as the app would log in,
// so a promotion from one version to the next is a real, checkable change.
// Only psql and redis-cli are called, without a shell; passwords travel in PGPASSWORD /
// REDISCLI_AUTH of those children, never on a command line or in a log line.

import { readFileSync } from 'node:fs';
import { StepError, checkInteger, checkOneOf, checkPattern, log, main, resourceChange, run } from './kit.mjs';

/** What this bundle version ships: the version and image it deploys and the feature flags it knows. */
const RELEASE = JSON.parse(readFileSync(new URL('./release.json', import.meta.url), 'utf8'));
const APP = 'checkout-api';
const LOG_LEVELS = ['debug', 'info', 'warn', 'error'];
const DATABASE = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

/** A login taken from a connected artifact of type postgresql-authentication. */
function postgresLogin(connections) {
  const conn = connections.database;
  if (!conn || typeof conn !== 'object') throw new StepError('connection "database" is missing: connect a postgresql-authentication artifact');
  const auth = conn.data?.authentication ?? {};
  for (const field of ['hostname', 'port', 'username', 'password']) {
    if (auth[field] === undefined || auth[field] === '') throw new StepError(`connection "database" has no data.authentication.${field}`);
  }
  const database = checkPattern(auth.database, DATABASE, 'connection "database" data.authentication.database');
  return {
    password: String(auth.password),
    env: {
      PGHOST: String(auth.hostname),
      PGPORT: String(auth.port),
      PGUSER: String(auth.username),
      PGPASSWORD: String(auth.password),
      PGDATABASE: database,
      PGCONNECT_TIMEOUT: '10',
      PGAPPNAME: APP,
    },
  };
}

/** A login taken from a connected artifact of type redis-authentication, or undefined when not connected. */
function redisLogin(connections) {
  const conn = connections.cache;
  if (!conn) return undefined;
  const auth = conn.data?.authentication ?? {};
  for (const field of ['hostname', 'port', 'username', 'password']) {
    if (auth[field] === undefined || auth[field] === '') throw new StepError(`connection "cache" has no data.authentication.${field}`);
  }
  // The artifact allows any prefix of letters, digits and `:_.-` (none: the whole keyspace).
  const prefix = checkPattern(auth.key_prefix ?? '', /^[A-Za-z0-9:_.-]*$/, 'connection "cache" data.authentication.key_prefix');
  const db = String(auth.database ?? 0);
  checkPattern(db, /^\d{1,2}$/, 'connection "cache" data.authentication.database');
  return {
    password: String(auth.password),
    args: ['-h', String(auth.hostname), '-p', String(auth.port), '--user', String(auth.username), '-n', db],
    env: { REDISCLI_AUTH: String(auth.password) },
    key: `${prefix}app:${APP}:release`,
  };
}

async function psql(login, sql, vars = {}) {
  const args = ['-X', '-q', '-A', '-t', '-w', '-v', 'ON_ERROR_STOP=1'];
  for (const [name, value] of Object.entries(vars)) args.push('-v', `${name}=${value}`);
  try {
    const { stdout } = await run(process.env.TS_TARGET_PSQL || 'psql', args, { env: login.env, input: sql, redact: [login.password] });
    return stdout.trim();
  } catch (err) {
    throw new StepError(`connection "database" (postgresql-authentication): ${err.message}`);
  }
}

async function redis(login, ...command) {
  let stdout;
  try {
    ({ stdout } = await run(process.env.TS_TARGET_REDIS_CLI || 'redis-cli', [...login.args, '-e', '--json', ...command], {
      env: login.env,
      redact: [login.password],
    }));
  } catch (err) {
    throw new StepError(`connection "cache" (redis-authentication): ${err.message}`);
  }
  const text = stdout.trim();
  return text === '' ? null : JSON.parse(text);
}

function desiredRelease(params) {
  const features = {};
  for (const flag of RELEASE.features ?? []) features[flag] = params[flag] === true;
  return {
    app: APP,
    version: RELEASE.version,
    image: RELEASE.image,
    replicas: checkInteger(params.replicas ?? 2, 1, 20, 'replicas'),
    log_level: checkOneOf(params.log_level ?? 'info', LOG_LEVELS, 'log_level'),
    features,
  };
}

const TABLE_EXISTS_SQL = "SELECT json_build_object('table', to_regclass('public.app_releases') IS NOT NULL);\n";

const ROW_SQL = `
SELECT json_build_object(
  'row', (SELECT json_build_object('app', app, 'version', version, 'image', image, 'replicas', replicas, 'log_level', log_level, 'features', features)
            FROM app_releases WHERE app = :'app'),
  'others', (SELECT count(*) FROM app_releases WHERE app <> :'app')
);
`;

async function plan(inputs) {
  const pg = postgresLogin(inputs.connections);
  const cache = redisLogin(inputs.connections);
  const { table } = JSON.parse(await psql(pg, TABLE_EXISTS_SQL));
  const { row, others } = table ? JSON.parse(await psql(pg, ROW_SQL, { app: APP })) : { row: null, others: 0 };
  const gone = inputs.destroying;
  // The table is shared by every app announcing itself in this database: it goes only with the last one.
  const keepTable = !gone || others > 0;
  const changes = [
    resourceChange('postgresql_table', 'app_releases', table ? { name: 'app_releases' } : null, keepTable ? { name: 'app_releases' } : null),
    resourceChange('app_release', 'checkout_api', row, gone ? null : desiredRelease(inputs.params)),
  ];
  if (cache) {
    const value = await redis(cache, 'GET', cache.key);
    changes.push(resourceChange('redis_key', 'release', value === null ? null : { key: cache.key, value }, gone ? null : { key: cache.key, value: RELEASE.version }));
  }
  return changes;
}

const UPSERT_SQL = `
INSERT INTO app_releases (app, version, image, replicas, log_level, features, deployment, deployed_at)
VALUES (:'app', :'version', :'image', :'replicas'::integer, :'log_level', :'features'::jsonb, :'deployment', now())
ON CONFLICT (app) DO UPDATE SET version = EXCLUDED.version, image = EXCLUDED.image, replicas = EXCLUDED.replicas,
  log_level = EXCLUDED.log_level, features = EXCLUDED.features, deployment = EXCLUDED.deployment, deployed_at = now();
`;

const CREATE_TABLE_SQL = `
CREATE TABLE IF NOT EXISTS app_releases (
  app text PRIMARY KEY,
  version text NOT NULL,
  image text NOT NULL,
  replicas integer NOT NULL,
  log_level text NOT NULL,
  features jsonb NOT NULL DEFAULT '{}'::jsonb,
  deployment text,
  deployed_at timestamptz NOT NULL DEFAULT now()
);
`;

async function apply(inputs, changes) {
  const pg = postgresLogin(inputs.connections);
  const cache = redisLogin(inputs.connections);
  const actions = (address) => changes.find((c) => c.address === address)?.change.actions ?? ['no-op'];
  const wants = (address, action) => actions(address).includes(action);

  if (wants('app_release.checkout_api', 'delete')) {
    await psql(pg, 'DELETE FROM app_releases WHERE app = :\'app\';', { app: APP });
    log('removed release record', { app: APP });
  }
  if (wants('postgresql_table.app_releases', 'delete')) {
    await psql(pg, 'DROP TABLE IF EXISTS app_releases;');
    log('dropped table', { table: 'app_releases' });
  }
  if (cache && wants('redis_key.release', 'delete')) {
    await redis(cache, 'DEL', cache.key);
    log('removed release key', { key: cache.key });
  }
  if (inputs.destroying) return {};

  if (wants('postgresql_table.app_releases', 'create')) {
    await psql(pg, CREATE_TABLE_SQL);
    log('created table', { table: 'app_releases' });
  }
  const release = desiredRelease(inputs.params);
  if (wants('app_release.checkout_api', 'create') || wants('app_release.checkout_api', 'update')) {
    await psql(pg, UPSERT_SQL, {
      app: APP,
      version: release.version,
      image: release.image,
      replicas: String(release.replicas),
      log_level: release.log_level,
      features: JSON.stringify(release.features),
      deployment: String(inputs.metadata.deployment ?? ''),
    });
    log('deployed release', { app: APP, version: release.version, replicas: release.replicas });
  }
  if (cache && (wants('redis_key.release', 'create') || wants('redis_key.release', 'update'))) {
    await redis(cache, 'SET', cache.key, release.version);
    log('announced release in cache', { key: cache.key, version: release.version });
  }
  return {};
}

await main({ plan, apply });
