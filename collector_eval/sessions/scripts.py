"""Lua scripts run inside Redis, so read-modify-write steps (caps, TTL extension, idempotent
triggers) are atomic across replicas. Every key a script touches is passed in KEYS."""
from __future__ import annotations

import hashlib

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

# The bookkeeping half of storing an Export request; buffer.store sends it in one pipeline right after
# the plain HSETs that wrote the request's chunks, so a request costs one round trip. Payloads never
# pass through Lua: turning a large argument into Lua strings cost more than all the rest.
#
# KEYS: due set, one trace hash per orphan chunk, then per session its hash followed by the trace
# hashes of its chunks. ARGV: due time, max spans, max bytes, session ttl, orphan ttl, and a packed
# blob (see buffer.store) naming each chunk's field, span and byte counts, and the end spans.
#
# A session is one hash: its chunks (fields "c..."), its traces ("t:<trace id>"), the end span,
# revision, id attribute, a truncated flag and "n": spans and bytes packed in one counter (spans * 2^32
# + bytes) so that one HINCRBY both counts and returns them. A chunk of a trace none of whose spans in
# the request names a session goes to that trace's own hash, same layout, kept for the orphan TTL,
# where an end span among its spans waits ("end_span") for the trace to join a session; when it does,
# that hash gets the session's TTL. A chunk that passes a cap is deleted again and the flag set. TTLs
# are only ever extended (a TTL within 10% of its target is left alone, which saves most EXPIREs). A
# new end span raises the revision and (re)schedules the session; the same end span again (a client
# retry, a second replica) changes nothing.
STORE_REQUEST = """
local due_at, max_spans, max_bytes = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local session_ttl, orphan_ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
local blob, pos = ARGV[6], 1
local function u32() local v; v, pos = struct.unpack('>I4', blob, pos); return v end
local function str() local v; v, pos = struct.unpack('>I4c0', blob, pos); return v end
local function extend(key, ttl)
  if redis.call('TTL', key) < ttl * 0.9 then redis.call('EXPIRE', key, ttl) end
end
local function count_chunk(key)
  local field, spans, bytes = str(), u32(), u32()
  local n = redis.call('HINCRBY', key, 'n', spans * 4294967296 + bytes)
  if math.floor(n / 4294967296) > max_spans or n % 4294967296 > max_bytes then
    redis.call('HDEL', key, field)
    redis.call('HSET', key, 'truncated', '1')
  end
end
local k = 2
for c = 1, u32() do
  count_chunk(KEYS[k])
  extend(KEYS[k], orphan_ttl)
  k = k + 1
end
local scheduled = 0
for s = 1, u32() do
  local key = KEYS[k]
  k = k + 1
  local member = str()
  local ends = {}
  for c = 1, u32() do
    count_chunk(key)
    -- Spans of this trace that came before its id did: keep them as long as the session, and
    -- honour an end span among them.
    if redis.call('EXPIRE', KEYS[k], session_ttl) == 1 then
      local pending = redis.call('HGET', KEYS[k], 'end_span')
      if pending then
        ends[#ends + 1] = pending
        redis.call('HDEL', KEYS[k], 'end_span')
      end
    end
    k = k + 1
  end
  for e = 1, u32() do ends[#ends + 1] = str() end
  for _, end_span in ipairs(ends) do
    if redis.call('HGET', key, 'end_span') ~= end_span then
      redis.call('HSET', key, 'end_span', end_span)
      redis.call('HINCRBY', key, 'revision', 1)
      redis.call('ZADD', KEYS[1], due_at, member)
      scheduled = scheduled + 1
    end
  end
  extend(key, session_ttl)
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
