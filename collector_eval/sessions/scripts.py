"""Lua scripts run inside Redis, so read-modify-write steps (caps, TTL extension, idempotent
triggers) are atomic across replicas. Every key a script touches is passed in KEYS."""
from __future__ import annotations

import hashlib

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

# One call stores a whole Export request, so a request costs one round trip and is buffered all or
# nothing. KEYS: due set, then per chunk its trace hash, then per session (meta hash, traces set).
# ARGV: due time, max spans, max bytes, session ttl, orphan ttl, now, and one packed blob (see
# buffer._pack; packing beats hundreds of separate arguments, whose encoding dominated the client).
#
# A trace is one hash: counters (spans, bytes, chunks, truncated) and its chunks as fields c1, c2, ...
# A chunk is stored unless its trace would pass a cap (then the trace is flagged truncated). TTLs are
# only ever extended, so a trace that joined a session keeps the session's TTL when more of its spans
# arrive without the id; a TTL still within 10% of its target is left alone, which saves most EXPIREs.
# A new end span raises the session's revision and (re)schedules it; the same end span again (a client
# retry, a second replica) changes nothing.
STORE_REQUEST = """
local due_at, max_spans, max_bytes = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local session_ttl, orphan_ttl, now = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local blob, pos = ARGV[7], 1
local function u32() local v; v, pos = struct.unpack('>I4', blob, pos); return v end
local function str() local v; v, pos = struct.unpack('>I4c0', blob, pos); return v end
local function extend(key, ttl)
  if redis.call('TTL', key) < ttl * 0.9 then redis.call('EXPIRE', key, ttl) end
end
local nchunks = u32()
for c = 1, nchunks do
  local key = KEYS[c + 1]
  local payload, count, joined = str(), u32(), u32()
  local ttl = orphan_ttl
  if joined == 1 then ttl = session_ttl end
  local m = redis.call('HMGET', key, 'spans', 'bytes', 'chunks')
  local n, b, k = tonumber(m[1] or '0'), tonumber(m[2] or '0'), tonumber(m[3] or '0')
  if n + count > max_spans or b + #payload > max_bytes then
    redis.call('HSET', key, 'truncated', '1')
  else
    redis.call('HSET', key, 'spans', n + count, 'bytes', b + #payload, 'chunks', k + 1, 'c' .. (k + 1), payload)
  end
  extend(key, ttl)
end
local nsessions = u32()
local k = nchunks + 2
local scheduled = 0
for s = 1, nsessions do
  local meta_key, traces_key = KEYS[k], KEYS[k + 1]
  k = k + 2
  local member, id_attribute, ntraces = str(), str(), u32()
  for t = 1, ntraces do redis.call('SADD', traces_key, str()) end
  redis.call('HSET', meta_key, 'id_attribute', id_attribute, 'last_seen', now)
  for e = 1, u32() do
    local end_span = str()
    if redis.call('HGET', meta_key, 'end_span') ~= end_span then
      redis.call('HSET', meta_key, 'end_span', end_span)
      redis.call('HINCRBY', meta_key, 'revision', 1)
      redis.call('ZADD', KEYS[1], due_at, member)
      scheduled = scheduled + 1
    end
  end
  extend(traces_key, session_ttl)
  extend(meta_key, session_ttl)
end
return scheduled
"""

# KEYS: due set, job stream. ARGV: now, batch size, stream max length.
# Moving due sessions to the stream in one script means a session is queued exactly once even when
# several replicas poll at the same moment.
DISPATCH_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(due) do
  redis.call('ZREM', KEYS[1], m)
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'session', m)
end
return #due
"""


class Script:
    def __init__(self, source: str):
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def run(self, client: aioredis.Redis, keys: list[str], args: list):
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await client.eval(self.source, len(keys), *keys, *args)


SCRIPTS = [Script(s) for s in (STORE_REQUEST, DISPATCH_DUE)]
store_request, dispatch_due = SCRIPTS


async def load_scripts(client: aioredis.Redis) -> None:
    for script in SCRIPTS:
        await client.script_load(script.source)
