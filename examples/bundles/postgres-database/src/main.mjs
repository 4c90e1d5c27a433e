// postgres-database step: a database, a login role that owns it and a grant of every database
// privilege to that role, on the PostgreSQL server ops point at with TS_TARGET_PGHOST/PGPORT/
// PGUSER (a superuser). Plans read the real catalog (pg_database, pg_authid, the database ACL),
// so a database dropped or a role altered by hand shows up in the next plan.
// Only psql is called, without a shell, with the SQL on stdin and every value a psql variable
// (`:'v'` literal, `:"v"` identifier). The password never leaves this process except in the
// artifact: the server gets a SCRAM-SHA-256 verifier computed here.

import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import {
  StepError,
  actionsOf,
  checkInteger,
  checkPattern,
  ensurePassword,
  loadState,
  log,
  main,
  resourceChange,
  run,
  saveState,
} from './kit.mjs';

const IDENTIFIER = /^[a-z][a-z0-9_]{0,62}$/;
const TEAM = /^[a-z][a-z0-9-]{1,40}$/;
const RESERVED_ROLES = ['postgres', 'public', 'root', 'admin'];
const DATABASE_PRIVILEGES = ['CONNECT', 'CREATE', 'TEMPORARY'];

function target() {
  const host = process.env.TS_TARGET_PGHOST;
  const port = process.env.TS_TARGET_PGPORT || '5432';
  const user = process.env.TS_TARGET_PGUSER;
  if (!host || !user) throw new StepError('TS_TARGET_PGHOST and TS_TARGET_PGUSER must be set: ops must say which PostgreSQL server this bundle manages');
  checkPattern(port, /^\d{1,5}$/, 'TS_TARGET_PGPORT');
  const env = { PGHOST: host, PGPORT: port, PGUSER: user, PGCONNECT_TIMEOUT: '10', PGAPPNAME: 'ticket-surface postgres-database' };
  if (process.env.TS_TARGET_PGPASSWORD) env.PGPASSWORD = process.env.TS_TARGET_PGPASSWORD;
  else delete process.env.PGPASSWORD;
  return {
    env,
    psql: process.env.TS_TARGET_PSQL || 'psql',
    maintenanceDb: process.env.TS_TARGET_PGDATABASE || 'postgres',
    // Applications reach the server over TCP even when ops manage it through a socket directory.
    publicHost: process.env.TS_TARGET_PG_PUBLIC_HOST || (host.startsWith('/') ? '127.0.0.1' : host),
    port: Number(port),
    secret: process.env.TS_TARGET_PGPASSWORD,
  };
}

/**
 * Runs `sql` (from stdin, so `:'name'` / `:"name"` interpolate) with `vars` as psql variables,
 * stopping at the first error, and returns stdout (unaligned, tuples only).
 */
async function psql(t, sql, vars = {}, database = t.maintenanceDb, redact = []) {
  const args = ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', database];
  for (const [name, value] of Object.entries(vars)) args.push('-v', `${name}=${value}`);
  const { stdout } = await run(t.psql, args, { env: t.env, input: sql, redact: [t.secret, ...redact] });
  return stdout;
}

/** The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677, as libpq builds it). */
function scramVerifier(password, salt = randomBytes(16), iterations = 4096) {
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** True when `verifier` (from pg_authid) was made from `password`. */
function verifierMatches(verifier, password) {
  const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(verifier ?? '');
  if (!m || password === undefined) return false;
  return scramVerifier(password, Buffer.from(m[2], 'base64'), Number(m[1])) === verifier;
}

function desired(params) {
  const database = checkPattern(params.database_name, IDENTIFIER, 'database_name');
  const role = checkPattern(params.username, IDENTIFIER, 'username');
  if (RESERVED_ROLES.includes(role) || role.startsWith('pg_')) throw new StepError(`username must not be a reserved name (${role})`);
  return {
    database,
    role,
    connectionLimit: checkInteger(params.connection_limit ?? 20, 1, 500, 'connection_limit'),
    comment: {
      expected_size_gib: checkInteger(params.expected_size_gib, 10, 1000, 'expected_size_gib'),
      owner_team: checkPattern(params.owner_team, TEAM, 'owner_team'),
      production_critical: params.production_critical === true,
    },
  };
}

const OBSERVE_SQL = `
SELECT json_build_object(
  'role', (SELECT json_build_object('name', a.rolname, 'login', a.rolcanlogin, 'connection_limit', a.rolconnlimit, 'verifier', a.rolpassword)
             FROM pg_authid a WHERE a.rolname = :'role'),
  'database', (SELECT json_build_object('name', d.datname, 'owner', pg_get_userbyid(d.datdba), 'comment', shobj_description(d.oid, 'pg_database'))
                 FROM pg_database d WHERE d.datname = :'db'),
  'grant', (SELECT json_agg(DISTINCT x.privilege_type ORDER BY x.privilege_type)
              FROM pg_database d, aclexplode(d.datacl) x
             WHERE d.datname = :'db' AND x.grantee = (SELECT oid FROM pg_roles WHERE rolname = :'role')),
  'version', current_setting('server_version')
);
`;

async function observe(t, database, role) {
  const out = await psql(t, OBSERVE_SQL, { db: database, role });
  return JSON.parse(out.trim());
}

function parseComment(text) {
  try {
    const c = JSON.parse(text);
    return { expected_size_gib: c.expected_size_gib ?? null, owner_team: c.owner_team ?? null, production_critical: c.production_critical ?? null };
  } catch {
    return { unparsed: text };
  }
}

async function plan(inputs) {
  const t = target();
  const d = desired(inputs.params);
  const state = loadState(inputs.stateDir);
  const password = ensurePassword(inputs.stateDir, 'postgres', { create: false });
  // What this package made last time is what it manages; a new name in the params replaces it.
  const current = await observe(t, state.database ?? d.database, state.role ?? d.role);
  const fallback = !current.database || !current.role ? await observe(t, d.database, d.role) : current;
  const dbNow = current.database ?? fallback.database;
  const roleNow = current.role ?? fallback.role;
  const grantNow = current.database && current.role ? current.grant : fallback.grant;

  const beforeRole = roleNow
    ? { name: roleNow.name, login: roleNow.login, connection_limit: roleNow.connection_limit, password_matches: verifierMatches(roleNow.verifier, password) }
    : null;
  const beforeDb = dbNow ? { name: dbNow.name, owner: dbNow.owner, ...parseComment(dbNow.comment) } : null;
  const beforeGrant =
    dbNow && roleNow && grantNow?.length ? { database: dbNow.name, role: roleNow.name, privileges: grantNow } : null;

  const gone = inputs.destroying;
  return [
    resourceChange('postgresql_role', 'app', beforeRole, gone ? null : { name: d.role, login: true, connection_limit: d.connectionLimit, password_matches: true }, {
      replaceWhen: ['name'],
    }),
    resourceChange('postgresql_database', 'main', beforeDb, gone ? null : { name: d.database, owner: d.role, ...d.comment }, { replaceWhen: ['name'] }),
    resourceChange('postgresql_grant', 'app_all', beforeGrant, gone ? null : { database: d.database, role: d.role, privileges: DATABASE_PRIVILEGES }, {
      replaceWhen: ['database', 'role'],
    }),
  ];
}

async function apply(inputs, changes) {
  const t = target();
  const d = desired(inputs.params);
  const get = (address) => changes.find((c) => c.address === address).change;
  const role = get('postgresql_role.app');
  const db = get('postgresql_database.main');
  const grant = get('postgresql_grant.app_all');
  const oldRole = role.before?.name;
  const oldDb = db.before?.name;
  if (oldRole) checkPattern(oldRole, IDENTIFIER, 'current role name');
  if (oldDb) checkPattern(oldDb, IDENTIFIER, 'current database name');

  // 1. Databases first on the way out: a role cannot be dropped while it owns one.
  if (db.actions.includes('delete')) {
    await psql(t, 'DROP DATABASE IF EXISTS :"db" WITH (FORCE);', { db: oldDb });
    log('dropped database', { database: oldDb });
  }
  if (inputs.destroying) {
    if (role.actions.includes('delete')) {
      await psql(t, 'DROP ROLE IF EXISTS :"role";', { role: oldRole });
      log('dropped role', { role: oldRole });
    }
    saveState(inputs.stateDir, {});
    return {};
  }

  // 2. The role, so the database can be owned by it.
  const password = ensurePassword(inputs.stateDir, 'postgres');
  const verifier = scramVerifier(password);
  const roleVars = { role: d.role, verifier, conn_limit: String(d.connectionLimit) };
  if (role.actions.includes('create')) {
    await psql(t, 'CREATE ROLE :"role" LOGIN PASSWORD :\'verifier\' CONNECTION LIMIT :conn_limit;', roleVars, undefined, [verifier]);
    log('created role', { role: d.role, connection_limit: d.connectionLimit });
  } else if (role.actions.includes('update')) {
    const sql = role.before.password_matches
      ? 'ALTER ROLE :"role" LOGIN CONNECTION LIMIT :conn_limit;'
      : 'ALTER ROLE :"role" LOGIN PASSWORD :\'verifier\' CONNECTION LIMIT :conn_limit;';
    await psql(t, sql, roleVars, undefined, [verifier]);
    log('updated role', { role: d.role, connection_limit: d.connectionLimit, password_reset: !role.before.password_matches });
  }

  // 3. The database.
  const dbVars = { db: d.database, role: d.role, comment: JSON.stringify(d.comment) };
  if (db.actions.includes('create')) {
    await psql(t, 'CREATE DATABASE :"db" OWNER :"role";', dbVars);
    await psql(t, 'COMMENT ON DATABASE :"db" IS :\'comment\';', dbVars);
    log('created database', { database: d.database, owner: d.role });
  } else if (db.actions.includes('update')) {
    await psql(t, 'ALTER DATABASE :"db" OWNER TO :"role";\nCOMMENT ON DATABASE :"db" IS :\'comment\';', dbVars);
    log('updated database', { database: d.database });
  }

  // 4. The grant (a replaced database or role comes without it).
  if (!grant.actions.includes('no-op') || db.actions.includes('create') || role.actions.includes('create')) {
    await psql(t, 'GRANT ALL PRIVILEGES ON DATABASE :"db" TO :"role";', dbVars);
    log('granted database privileges', { database: d.database, role: d.role });
  }

  // 5. A replaced role hands what it owned to the new one, then goes.
  if (role.actions.includes('delete') && oldRole && oldRole !== d.role) {
    await psql(t, 'REASSIGN OWNED BY :"old" TO :"role";\nDROP OWNED BY :"old";', { old: oldRole, role: d.role }, d.database);
    await psql(t, 'DROP ROLE IF EXISTS :"old";', { old: oldRole });
    log('dropped replaced role', { role: oldRole });
  }

  saveState(inputs.stateDir, { database: d.database, role: d.role });
  const version = (await observe(t, d.database, d.role)).version;
  return {
    authentication: {
      data: {
        authentication: { hostname: t.publicHost, port: t.port, database: d.database, username: d.role, password },
      },
      specs: { rdbms: { engine: 'postgresql', version: String(version) } },
    },
  };
}

/**
 * A drift check: what the server holds for this package's database and role, as params where
 * the bundle models them (connection limit, owner team, size, criticality from the comment) and
 * as resource attributes where it does not (owner, login, privileges: reported only when they
 * differ from what apply sets). Reads only; changes nothing.
 */
async function observeReality(inputs) {
  const t = target();
  const d = desired(inputs.params);
  const state = loadState(inputs.stateDir);
  const database = state.database ?? d.database;
  const role = state.role ?? d.role;
  const now = await observe(t, database, role);
  const params = {};
  const attributes = {};
  if (now.role) {
    params.username = now.role.name;
    params.connection_limit = now.role.connection_limit;
    if (!now.role.login) attributes['postgresql_role.app'] = { login: false };
  } else attributes['postgresql_role.app'] = { exists: false };
  if (now.database) {
    params.database_name = now.database.name;
    const comment = parseComment(now.database.comment);
    for (const key of ['expected_size_gib', 'owner_team', 'production_critical']) if (comment[key] !== undefined && comment[key] !== null) params[key] = comment[key];
    if (now.database.owner !== role) attributes['postgresql_database.main'] = { owner: now.database.owner };
    const privileges = now.grant ?? [];
    if (DATABASE_PRIVILEGES.some((p) => !privileges.includes(p))) attributes['postgresql_grant.app_all'] = { privileges };
  } else attributes['postgresql_database.main'] = { exists: false };
  return { params, attributes };
}

await main({ plan, apply, observe: observeReality });
