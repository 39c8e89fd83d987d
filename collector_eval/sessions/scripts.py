"""Lua scripts run inside Redis, so read-modify-write steps (caps, TTL extension, idempotent
triggers) are atomic across replicas. Each script touches the keys of one hash slot only, except the
due-set poller, whose keys are both fixed."""
from __future__ import annotations

import hashlib

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

# KEYS: trace spans list, trace meta hash. ARGV: chunk, span count, byte count, ttl, max spans, max bytes.
# Stores the chunk unless the trace would pass a cap (then flags it truncated); never shortens a TTL, so
# a trace that joined a session keeps the session's TTL when more of its spans arrive without the id.
APPEND_TRACE = """
local n = tonumber(redis.call('HGET', KEYS[2], 'spans') or '0')
local b = tonumber(redis.call('HGET', KEYS[2], 'bytes') or '0')
local stored = 1
if n + tonumber(ARGV[2]) > tonumber(ARGV[5]) or b + tonumber(ARGV[3]) > tonumber(ARGV[6]) then
  redis.call('HSET', KEYS[2], 'truncated', '1')
  stored = 0
else
  redis.call('RPUSH', KEYS[1], ARGV[1])
  redis.call('HINCRBY', KEYS[2], 'spans', ARGV[2])
  redis.call('HINCRBY', KEYS[2], 'bytes', ARGV[3])
end
local ttl = tonumber(ARGV[4])
for _, k in ipairs(KEYS) do
  if redis.call('TTL', k) < ttl then redis.call('EXPIRE', k, ttl) end
end
return stored
"""

# KEYS: session meta hash, due set. ARGV: end span id, due time, session member.
# A new end span raises the revision and (re)schedules the session; the same end span again (a client
# retry, a second replica) changes nothing.
END_SESSION = """
if redis.call('HGET', KEYS[1], 'end_span') == ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'end_span', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'revision', 1)
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
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

    def queue(self, pipe, keys: list[str], args: list) -> None:
        pipe.evalsha(self.sha, len(keys), *keys, *args)

    async def run(self, client: aioredis.Redis, keys: list[str], args: list):
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await client.eval(self.source, len(keys), *keys, *args)


SCRIPTS = [Script(s) for s in (APPEND_TRACE, END_SESSION, DISPATCH_DUE)]
append_trace, end_session, dispatch_due = SCRIPTS


async def load_scripts(client: aioredis.Redis) -> None:
    for script in SCRIPTS:
        await client.script_load(script.source)


async def execute_with_scripts(client: aioredis.Redis, build) -> list:
    """Run a pipeline built by build(pipe); if Redis lost its script cache (a restart), load the
    scripts and run it once more. A script that met NOSCRIPT did not run, and the plain commands
    queued beside scripts are idempotent (SADD, HSET, EXPIRE), so the second run doubles nothing."""
    for attempt in (0, 1):
        pipe = client.pipeline(transaction=False)
        build(pipe)
        results = await pipe.execute(raise_on_error=False)
        if attempt == 0 and any(isinstance(r, NoScriptError) for r in results):
            await load_scripts(client)
            continue
        for r in results:
            if isinstance(r, Exception):
                raise r
        return results
    raise AssertionError("unreachable")
