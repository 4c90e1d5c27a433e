// redis-cache step: an ACL user confined to one key prefix on the Redis server ops point at with
// TS_TARGET_REDIS_URL, plus a settings hash describing the cache. Plans compare the params with
// what the server really holds (ACL GETUSER, ACL DRYRUN), so a hand-made change shows up.
// Only redis-cli is called, without a shell; the password never leaves this process except in
// the artifact: the server gets its SHA-256 (`#<hash>`), so no command line carries it.

import {
  StepError,
  actionsOf,
  checkInteger,
  checkOneOf,
  checkPattern,
  ensurePassword,
  loadState,
  log,
  main,
  resourceChange,
  run,
  saveState,
  sha256Hex,
} from './kit.mjs';

const KEY_PREFIX = /^[a-z][a-z0-9-]{1,40}$/;
const USERNAME = /^[a-z0-9][a-z0-9-]{0,99}$/;
const ACCESS_LEVELS = ['read-only', 'read-write'];
const EVICTION = ['allkeys-lru', 'allkeys-lfu', 'volatile-lru', 'volatile-ttl', 'noeviction'];

/** ACL command rules per access level; `-@dangerous` last so FLUSHALL, KEYS, CONFIG... stay out. */
const COMMAND_RULES = {
  'read-only': ['-@all', '+@read', '+@connection', '-@dangerous'],
  'read-write': ['-@all', '+@read', '+@write', '+@connection', '-@dangerous'],
};

/** Where ops' Redis is: an admin connection URL. */
function target() {
  const raw = process.env.TS_TARGET_REDIS_URL;
  if (!raw) throw new StepError('TS_TARGET_REDIS_URL is not set: ops must say which Redis server this bundle manages');
  let url;
  try {
    url = new URL(raw);
  } catch {
    throw new StepError('TS_TARGET_REDIS_URL is not a URL');
  }
  if (url.protocol !== 'redis:') throw new StepError('TS_TARGET_REDIS_URL must be a redis:// URL');
  const args = ['-h', url.hostname || '127.0.0.1', '-p', url.port || '6379'];
  if (url.username && url.username !== 'default') args.push('--user', decodeURIComponent(url.username));
  const db = url.pathname.replace(/^\//, '');
  if (db) args.push('-n', checkPattern(db, /^\d{1,2}$/, 'TS_TARGET_REDIS_URL database'));
  // REDISCLI_AUTH keeps the admin password off every command line.
  const env = url.password ? { REDISCLI_AUTH: decodeURIComponent(url.password) } : {};
  return {
    args,
    env,
    hostname: process.env.TS_TARGET_REDIS_PUBLIC_HOST || url.hostname || '127.0.0.1',
    port: Number(url.port || 6379),
    database: Number(db || 0),
    adminSecret: env.REDISCLI_AUTH,
  };
}

async function redisCli(t, format, command) {
  const { stdout } = await run(process.env.TS_TARGET_REDIS_CLI || 'redis-cli', [...t.args, '-e', format, ...command], {
    env: t.env,
    redact: [t.adminSecret],
  });
  return stdout;
}

/** Runs one command (each word its own argv entry) and returns the reply parsed from `--json`. */
async function redis(t, ...command) {
  const text = (await redisCli(t, '--json', command)).trim();
  return text === '' ? null : JSON.parse(text);
}

function desired(inputs) {
  const { params, metadata } = inputs;
  const username = checkPattern(String(metadata.name_prefix ?? '').toLowerCase(), USERNAME, 'md_metadata.name_prefix');
  return {
    username,
    keyPrefix: checkPattern(params.key_prefix, KEY_PREFIX, 'key_prefix'),
    accessLevel: checkOneOf(params.access_level ?? 'read-write', ACCESS_LEVELS, 'access_level'),
    maxMemoryMb: checkInteger(params.max_memory_mb ?? 256, 64, 65536, 'max_memory_mb'),
    evictionPolicy: checkOneOf(params.eviction_policy ?? 'allkeys-lru', EVICTION, 'eviction_policy'),
  };
}

// A leading underscore puts it outside every cache's key prefix (those start with a letter).
const settingsKey = (username) => `_redis-cache:settings:${username}`;

/** What the server can do for `username` on `prefix`, asked with ACL DRYRUN (nothing runs). */
async function observedAccessLevel(t, username, prefix) {
  const allowed = async (...cmd) => (await redis(t, 'ACL', 'DRYRUN', username, ...cmd)) === 'OK';
  const probe = `${prefix}:__probe__`;
  const [read, write, flush, keys] = await Promise.all([
    allowed('GET', probe),
    allowed('SET', probe, 'x'),
    allowed('FLUSHALL'),
    allowed('KEYS', '*'),
  ]);
  if (flush || keys) return 'unrestricted';
  if (read && write) return 'read-write';
  if (read) return 'read-only';
  return 'none';
}

async function observeUser(t, username, password) {
  const user = await redis(t, 'ACL', 'GETUSER', username);
  if (user === null) return null;
  const keys = typeof user.keys === 'string' ? user.keys : (user.keys ?? []).join(' ');
  const patterns = keys.split(' ').filter(Boolean);
  const prefix = patterns.length === 1 && /^~[a-z0-9-]+:\*$/.test(patterns[0]) ? patterns[0].slice(1, -2) : null;
  return {
    username,
    enabled: (user.flags ?? []).includes('on'),
    key_pattern: keys,
    access_level: prefix ? await observedAccessLevel(t, username, prefix) : 'custom',
    password_matches: password !== undefined && (user.passwords ?? []).length === 1 && user.passwords[0] === sha256Hex(password),
  };
}

async function observeSettings(t, username) {
  const hash = await redis(t, 'HGETALL', settingsKey(username));
  if (!hash || Object.keys(hash).length === 0) return null;
  return {
    key: settingsKey(username),
    key_prefix: hash.key_prefix ?? null,
    max_memory_mb: hash.max_memory_mb === undefined ? null : Number(hash.max_memory_mb),
    eviction_policy: hash.eviction_policy ?? null,
  };
}

async function plan(inputs) {
  const t = target();
  const d = desired(inputs);
  const password = ensurePassword(inputs.stateDir, 'redis', { create: false });
  const beforeUser = await observeUser(t, d.username, password);
  const beforeSettings = await observeSettings(t, d.username);
  const afterUser = inputs.destroying
    ? null
    : { username: d.username, enabled: true, key_pattern: `~${d.keyPrefix}:*`, access_level: d.accessLevel, password_matches: true };
  const afterSettings = inputs.destroying
    ? null
    : { key: settingsKey(d.username), key_prefix: d.keyPrefix, max_memory_mb: d.maxMemoryMb, eviction_policy: d.evictionPolicy };
  return [
    resourceChange('redis_acl_user', 'app', beforeUser, afterUser, { replaceWhen: ['key_pattern', 'username'] }),
    resourceChange('redis_hash', 'settings', beforeSettings, afterSettings),
  ];
}

/** Removes every key under `prefix:` (SCAN, never KEYS: the server keeps serving meanwhile). */
async function deletePrefix(t, prefix) {
  checkPattern(prefix, KEY_PREFIX, 'key prefix to delete');
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis(t, 'SCAN', cursor, 'MATCH', `${prefix}:*`, 'COUNT', '500');
    if (keys.length) deleted += await redis(t, 'UNLINK', ...keys);
    cursor = next;
  } while (cursor !== '0');
  log('deleted cached keys', { prefix, deleted });
}

async function persistAcl(t) {
  // Servers with an aclfile keep users across restarts only after ACL SAVE; others say no.
  await redis(t, 'ACL', 'SAVE').catch(() => log('ACL SAVE not available (no aclfile); the ACL user lives in memory'));
}

async function apply(inputs, changes) {
  const t = target();
  const d = desired(inputs);
  const state = loadState(inputs.stateDir);
  const userActions = actionsOf(changes, 'redis_acl_user.app');
  const settingsActions = actionsOf(changes, 'redis_hash.settings');
  const beforeUser = changes.find((c) => c.address === 'redis_acl_user.app').change.before;

  if (userActions.includes('delete')) {
    await redis(t, 'ACL', 'DELUSER', d.username);
    log('deleted ACL user', { username: d.username });
    const oldPrefix = beforeUser?.key_pattern?.match(/^~([a-z][a-z0-9-]{1,40}):\*$/)?.[1] ?? state.key_prefix;
    if (oldPrefix) await deletePrefix(t, oldPrefix);
  }
  if (settingsActions.includes('delete')) {
    await redis(t, 'DEL', settingsKey(d.username));
    log('deleted settings hash', { key: settingsKey(d.username) });
  }

  if (inputs.destroying) {
    await persistAcl(t);
    saveState(inputs.stateDir, {});
    return {};
  }

  const password = ensurePassword(inputs.stateDir, 'redis');
  if (userActions.includes('create') || userActions.includes('update')) {
    // `reset` first: the rule list below is the whole truth, whatever was set by hand before.
    await redis(t, 'ACL', 'SETUSER', d.username, 'reset', 'on', `#${sha256Hex(password)}`, `~${d.keyPrefix}:*`, 'resetchannels', ...COMMAND_RULES[d.accessLevel]);
    log(userActions.includes('create') ? 'created ACL user' : 'updated ACL user', { username: d.username, access_level: d.accessLevel, key_prefix: d.keyPrefix });
    await persistAcl(t);
  }
  if (settingsActions.includes('create') || settingsActions.includes('update')) {
    await redis(t, 'HSET', settingsKey(d.username), 'key_prefix', d.keyPrefix, 'max_memory_mb', String(d.maxMemoryMb), 'eviction_policy', d.evictionPolicy);
    log('wrote settings hash', { key: settingsKey(d.username) });
  }
  saveState(inputs.stateDir, { username: d.username, key_prefix: d.keyPrefix });

  const info = await redisCli(t, '--raw', ['INFO', 'server']);
  const version = /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? 'unknown';
  return {
    authentication: {
      data: {
        authentication: { hostname: t.hostname, port: t.port, username: d.username, password, key_prefix: `${d.keyPrefix}:`, database: t.database },
      },
      specs: { cache: { engine: 'redis', version } },
    },
  };
}

/**
 * A drift check: what the server holds for this cache's ACL user and settings hash, as params
 * (key prefix from the key pattern, access level from ACL DRYRUN, memory budget and eviction
 * policy from the settings hash) and as ACL attributes no param models (disabled, other key
 * patterns, more than its access level, a password changed by hand). Reads only.
 */
async function observeReality(inputs) {
  const t = target();
  const d = desired(inputs);
  const password = ensurePassword(inputs.stateDir, 'redis', { create: false });
  const user = await observeUser(t, d.username, password);
  const settings = await observeSettings(t, d.username);
  const params = {};
  const attributes = {};
  if (user) {
    const prefix = /^~([a-z][a-z0-9-]{1,40}):\*$/.exec(user.key_pattern)?.[1];
    const acl = {};
    if (prefix) params.key_prefix = prefix;
    else acl.key_pattern = user.key_pattern;
    if (ACCESS_LEVELS.includes(user.access_level)) params.access_level = user.access_level;
    else acl.access_level = user.access_level;
    if (!user.enabled) acl.enabled = false;
    if (!user.password_matches) acl.password_matches = false;
    if (Object.keys(acl).length) attributes['redis_acl_user.app'] = acl;
  } else attributes['redis_acl_user.app'] = { exists: false };
  if (settings) {
    if (settings.max_memory_mb !== null) params.max_memory_mb = settings.max_memory_mb;
    if (settings.eviction_policy !== null) params.eviction_policy = settings.eviction_policy;
  } else attributes['redis_hash.settings'] = { exists: false };
  return { params, attributes };
}

await main({ plan, apply, observe: observeReality });
