/**
 * The one Lua script every audited write goes through. It checks guards (record absent,
 * present, or at an expected revision), applies lists of hash/set/sorted-set/list operations and
 * appends the hash-chained audit events they cover, all in one atomic step inside Redis. Because the
 * script itself reads the last sequence number and hash, concurrent writers from any number
 * of processes are serialized by Redis and the chain can never fork.
 *
 * Redis' Lua has no SHA-256 (only `redis.sha1hex`), so a small SHA-256 over the `bit`
 * library is included; the TypeScript side verifies with node:crypto, and the unit tests
 * compare the two on random input.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

const SHA256_LUA = `
local band, bxor, bnot, rshift, ror, tobit, tohex = bit.band, bit.bxor, bit.bnot, bit.rshift, bit.ror, bit.tobit, bit.tohex
local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}
local function sha256(msg)
  local len = #msg
  local bitlen = len * 8
  local hi = math.floor(bitlen / 4294967296)
  local lo = bitlen % 4294967296
  local zeros = (64 - ((len + 9) % 64)) % 64
  msg = msg .. '\\128' .. string.rep('\\0', zeros) .. string.char(
    math.floor(hi / 16777216) % 256, math.floor(hi / 65536) % 256, math.floor(hi / 256) % 256, hi % 256,
    math.floor(lo / 16777216) % 256, math.floor(lo / 65536) % 256, math.floor(lo / 256) % 256, lo % 256)
  local h0, h1, h2, h3 = tobit(0x6a09e667), tobit(0xbb67ae85), tobit(0x3c6ef372), tobit(0xa54ff53a)
  local h4, h5, h6, h7 = tobit(0x510e527f), tobit(0x9b05688c), tobit(0x1f83d9ab), tobit(0x5be0cd19)
  local w = {}
  for chunk = 1, #msg, 64 do
    for i = 1, 16 do
      local p = chunk + (i - 1) * 4
      local b1, b2, b3, b4 = string.byte(msg, p, p + 3)
      w[i] = tobit(b1 * 16777216 + b2 * 65536 + b3 * 256 + b4)
    end
    for i = 17, 64 do
      local x, y = w[i - 15], w[i - 2]
      local s0 = bxor(ror(x, 7), ror(x, 18), rshift(x, 3))
      local s1 = bxor(ror(y, 17), ror(y, 19), rshift(y, 10))
      w[i] = tobit(w[i - 16] + s0 + w[i - 7] + s1)
    end
    local a, b, c, d, e, f, g, h = h0, h1, h2, h3, h4, h5, h6, h7
    for i = 1, 64 do
      local S1 = bxor(ror(e, 6), ror(e, 11), ror(e, 25))
      local ch = bxor(band(e, f), band(bnot(e), g))
      local t1 = h + S1 + ch + K[i] + w[i]
      local S0 = bxor(ror(a, 2), ror(a, 13), ror(a, 22))
      local maj = bxor(band(a, b), band(a, c), band(b, c))
      h = g; g = f; f = e; e = tobit(d + t1); d = c; c = b; b = a; a = tobit(t1 + S0 + maj)
    end
    h0 = tobit(h0 + a); h1 = tobit(h1 + b); h2 = tobit(h2 + c); h3 = tobit(h3 + d)
    h4 = tobit(h4 + e); h5 = tobit(h5 + f); h6 = tobit(h6 + g); h7 = tobit(h7 + h)
  end
  return tohex(h0) .. tohex(h1) .. tohex(h2) .. tohex(h3) .. tohex(h4) .. tohex(h5) .. tohex(h6) .. tohex(h7)
end
`;

/**
 * One atomic step: guards, then one or more audit events, each with the record operations it
 * covers (a request superseded and its next revision created are two events in one step).
 *
 * KEYS: 1 audit events hash, 2 audit head hash, 3.. every other key, named by index in ARGV.
 * ARGV is read in order:
 * - G, then G guards of 4 values: mode (absent|present|revision|holds), key index, field, expected
 *   revision (`holds`: the string key at the index must equal the field, a lock's fencing value);
 * - E, then E events: body (canonical JSON members without seq/prevHash/hash), subject index
 *   key, actor index key, request index key (0: none), N, then N operations of 4 values:
 *   opcode, key index, arg1, arg2.
 * Returns {'ok', seq, hash, prevHash, seq, hash, prevHash...} (one triple per event), or
 * {'exists', guard} | {'missing', guard} | {'conflict', actualRevision, guard} | {'fenced', guard}
 * (1-based guard).
 */
const WRITE_LUA = `${SHA256_LUA}
local pos = 1
local function take()
  local v = ARGV[pos]
  pos = pos + 1
  return v
end
local known = { hset = true, hdel = true, sadd = true, srem = true, zadd = true, zaddref = true, zrem = true, rpush = true }
local guards = {}
for g = 1, tonumber(take()) do
  guards[g] = { mode = take(), key = KEYS[tonumber(take())], field = take(), revision = tonumber(take()) }
end
local events = {}
for e = 1, tonumber(take()) do
  local ev = { body = take(), subject = KEYS[tonumber(take())], actor = KEYS[tonumber(take())], request = tonumber(take()), ops = {} }
  for o = 1, tonumber(take()) do
    local op = { take(), tonumber(take()), take(), take() }
    if not known[op[1]] then return redis.error_reply('audit write: unknown op ' .. tostring(op[1])) end
    ev.ops[o] = op
  end
  events[e] = ev
end
for g, guard in ipairs(guards) do
  if guard.mode == 'absent' then
    if redis.call('HEXISTS', guard.key, guard.field) == 1 then return {'exists', g} end
  elseif guard.mode == 'present' then
    if redis.call('HEXISTS', guard.key, guard.field) == 0 then return {'missing', g} end
  elseif guard.mode == 'revision' then
    local cur = redis.call('HGET', guard.key, guard.field)
    if not cur then return {'missing', g} end
    local rev = cjson.decode(cur).revision
    if rev ~= guard.revision then return {'conflict', tostring(rev), g} end
  elseif guard.mode == 'holds' then
    if redis.call('GET', guard.key) ~= guard.field then return {'fenced', g} end
  else
    return redis.error_reply('audit write: unknown guard ' .. tostring(guard.mode))
  end
end
local seq = tonumber(redis.call('HGET', KEYS[2], 'seq') or '0')
-- A lost head next to surviving events must never let a new chain overwrite old events.
for e = 1, #events do
  if redis.call('HEXISTS', KEYS[1], tostring(seq + e)) == 1 then
    return redis.error_reply('audit log is inconsistent: event ' .. (seq + e) .. ' exists beyond the recorded head')
  end
end
local prev = redis.call('HGET', KEYS[2], 'hash') or string.rep('0', 64)
local reply = {'ok'}
for _, ev in ipairs(events) do
  seq = seq + 1
  for _, op in ipairs(ev.ops) do
    local name, k, a, b = op[1], KEYS[op[2]], op[3], op[4]
    if name == 'hset' then redis.call('HSET', k, a, b)
    elseif name == 'hdel' then redis.call('HDEL', k, a)
    elseif name == 'sadd' then redis.call('SADD', k, a)
    elseif name == 'srem' then redis.call('SREM', k, a)
    elseif name == 'rpush' then redis.call('RPUSH', k, a)
    elseif name == 'zadd' then
      -- '$seq' scores a member with its event's audit seq: a unique, gap-free creation order.
      if b == '$seq' then redis.call('ZADD', k, seq, a) else redis.call('ZADD', k, b, a) end
    elseif name == 'zaddref' then
      -- Same score as the member has in another sorted set (an index entry added on update keeps the creation order).
      local score = redis.call('ZSCORE', KEYS[tonumber(b)], a) or seq
      redis.call('ZADD', k, score, a)
    elseif name == 'zrem' then redis.call('ZREM', k, a) end
  end
  local canonical = '{"seq":' .. seq .. ',' .. ev.body .. ',"prevHash":"' .. prev .. '"}'
  local hash = sha256(prev .. canonical)
  local stored = string.sub(canonical, 1, -2) .. ',"hash":"' .. hash .. '"}'
  redis.call('HSET', KEYS[1], tostring(seq), stored)
  redis.call('ZADD', ev.subject, seq, tostring(seq))
  redis.call('ZADD', ev.actor, seq, tostring(seq))
  if ev.request > 0 then redis.call('ZADD', KEYS[ev.request], seq, tostring(seq)) end
  table.insert(reply, seq)
  table.insert(reply, hash)
  table.insert(reply, prev)
  prev = hash
end
redis.call('HSET', KEYS[2], 'seq', seq, 'hash', prev)
return reply
`;

/** Test hook: returns sha256(ARGV[1]) computed by the Lua implementation. */
const SHA256_PROBE_LUA = `${SHA256_LUA}
return sha256(ARGV[1])
`;

/** A Lua script run by EVALSHA, loading itself with EVAL the first time a server lacks it. */
export class LuaScript {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /** Runs the script; `keys` and `args` as for EVAL. */
  async run(redis: Redis, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) {
        return redis.eval(this.source, keys.length, ...keys, ...args);
      }
      throw err;
    }
  }
}

/** The audited-write script (guard + operations + chained audit append). */
export const auditedWriteScript = new LuaScript(WRITE_LUA);

/** SHA-256 computed by the same Lua code the write script uses (for tests). */
export const sha256ProbeScript = new LuaScript(SHA256_PROBE_LUA);
