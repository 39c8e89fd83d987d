"""Lua scripts run inside Redis, so read-modify-write steps (caps, TTL extension, idempotent
triggers) are atomic across replicas. Every key a script touches is passed in KEYS."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from string import Template

from redis.exceptions import NoScriptError

from collector_eval.model import NO_RULE, Forwarding, ForwardingDecision, Trigger
from collector_eval.store.client import Client

# The bookkeeping half of storing an Export request in one shard; buffer.store sends it right after
# the plain HSETs that wrote the shard's chunks, so a shard costs one round trip (a single Redis is one
# shard). Payloads never pass through Lua: turning a large argument into Lua strings cost more than
# all the rest.
#
# KEYS: the shard's due set, idle set and max-duration set, hold set, orphan set and release stream;
# one trace hash per orphan chunk; per session its hash; then the trace hashes in this shard of
# traces whose session lives in another ("joins"). ARGV: due time, max spans, max bytes, session
# ttl, orphan ttl, now, late-spans re-evaluation (1 or 0), idle timeout, max duration (0: off), a
# packed blob (see buffer.store) naming each chunk's field, span and byte counts (a session gets one
# chunk per request; none when only an end span is handed over), the ids (hex) of a session's traces
# that live in this shard, its end spans, and the session of each join; then whether spans are held
# for their verdict (forwarding.mode on_verdict: 1 or 0), hold_max_s, and the shard's key tag.
#
# A session is one hash: its chunks (fields "c..."), its traces ("t:<trace id>"), the end span, the
# trigger that scheduled it, its revision (raised by the worker that judges it), judged_n (the
# counter judged last), id attribute, a truncated flag and "n": spans and bytes packed in one
# counter (spans * 2^32 + bytes) so that one HINCRBY both counts and returns them. A chunk of a
# trace none of whose spans in the request names a session goes to that trace's own hash, same
# layout, kept for the orphan TTL, where an end span among its spans waits ("end_span") for the
# trace to join a session; when it does, that hash gets the session's TTL. Such a trace waits in the
# shard's orphan set (by id, scored by its last chunk's time plus the orphan TTL): a session's
# traces are looked up there in one call, so a trace that never waited (most) costs its session no
# key and no command. A chunk that passes a cap is deleted again and the flag set. TTLs are only
# ever extended (a TTL within 10% of its target is left alone, which saves most EXPIREs); a hash's
# first chunk sets it without reading it. A new end span (re)schedules the session; the same end
# span again (a client retry, a second replica) changes nothing. Spans of a session judged before
# schedule it again when late spans are re-evaluated.
# Returns how many sessions were scheduled, the fields of the chunks a cap deleted, then (session,
# end span) for each end span a join found waiting: buffer.store passes those on to their sessions'
# shards.
#
# Held spans (on_verdict): a session without a decision waits in the hold set; a trace without a
# session's hash is kept twice the orphan TTL so that it is still there when the orphan TTL has passed
# and the poller releases it (RELEASE_OVERDUE). Every trace of a session is marked "joined" (its hash
# made if need be, so spans that come later without the id are known to be the session's) and
# leaves the orphan set. Spans that reach a session whose decision is "kept" queue
# the session in the release stream; the releaser sends only what it has not sent before.
STORE_REQUEST = """
local due_at, max_spans, max_bytes = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local session_ttl, orphan_ttl, now = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local reevaluate, idle, max_duration = ARGV[7] == '1', tonumber(ARGV[8]), tonumber(ARGV[9])
local blob, pos = ARGV[10], 1
local hold, hold_max, tag = ARGV[11] == '1', tonumber(ARGV[12]), ARGV[13]
local overflow = {}
local ID = 32  -- a trace id in hex, as keys and the orphan set name it
local function u32() local v; v, pos = struct.unpack('>I4', blob, pos); return v end
local function str() local v; v, pos = struct.unpack('>I4c0', blob, pos); return v end
-- first: the hash's first chunk (count_chunk's second answer), whose TTL need not be read.
local function extend(key, ttl, first)
  if first or redis.call('TTL', key) < ttl * 0.9 then redis.call('EXPIRE', key, ttl) end
end
-- Returns the chunk's field, and whether it is the hash's first. Such a hash has no TTL yet, or the
-- one mark_truncated gave it (the same), or, held, the session's its trace's join gave it.
local function count_chunk(key)
  local field, spans, bytes = str(), u32(), u32()
  local n = redis.call('HINCRBY', key, 'n', spans * 4294967296 + bytes)
  if math.floor(n / 4294967296) > max_spans or n % 4294967296 > max_bytes then
    redis.call('HDEL', key, field)
    redis.call('HSET', key, 'truncated', '1')
    overflow[#overflow + 1] = field
  end
  return field, n == spans * 4294967296 + bytes
end
-- One command for many members: a call from Lua into Redis costs more than the work it asks for.
local function in_batches(command, key, args, step, flag)
  for first = 1, #args, step do
    if flag then
      redis.call(command, key, flag, unpack(args, first, math.min(first + step - 1, #args)))
    else
      redis.call(command, key, unpack(args, first, math.min(first + step - 1, #args)))
    end
  end
end
local function release_later(member)
  redis.call('XADD', KEYS[6], '*', 'session', member, 'late', '1')
end
-- Spans of a trace that came before its session's id did: keep them as long as the session, and
-- hand over an end span among them.
-- The caller takes the trace out of the orphan set (one ZREM for all of a session's).
local function join(trace_key, member)
  if hold and redis.call('HSETNX', trace_key, 'joined', member) == 1 then
    -- Spans it held as an orphan are the session's now: sent if the session is kept.
    if redis.call('HLEN', trace_key) > 1 then release_later(member) end
  end
  if redis.call('EXPIRE', trace_key, session_ttl) == 1 then
    local pending = redis.call('HGET', trace_key, 'end_span')
    if pending then
      redis.call('HDEL', trace_key, 'end_span')
      return pending
    end
  end
end
-- The chunks were written just before this script in one MULTI/EXEC with their replies switched off
-- (resp.execute_quietly): all of them are there, or none (Redis refused the transaction: out of
-- memory). So one chunk tells, and none there refuses the request as Redis refused its writes.
local function chunks_stored()
  if u32() > 0 then return redis.call('HEXISTS', KEYS[7], str()) == 1 end
  local k = 7
  for s = 1, u32() do
    str()
    if u32() > 0 then return redis.call('HEXISTS', KEYS[k], str()) == 1 end
    k = k + 1
    local traces = u32()
    pos = pos + traces * ID
    for e = 1, u32() do str() end
  end
  return true
end
if not chunks_stored() then
  return redis.error_reply("OOM command not allowed when used memory > 'maxmemory' (a chunk of this request was not stored)")
end
pos = 1
local k = 7
local waiting = {}  -- score, id: the orphan set's new or later entries
for c = 1, u32() do
  local key = KEYS[k]
  local field, first = count_chunk(key)
  -- Held, only spans wait for release (log records went on arrival); else any chunk waits to join.
  local spans = string.sub(field, 1, 1) == 'c'
  local joined = hold and redis.call('HGET', key, 'joined')
  if joined then
    if spans then release_later(joined) end
  elseif spans or not hold then
    waiting[#waiting + 1] = now + orphan_ttl
    waiting[#waiting + 1] = string.sub(key, -ID)
  end
  -- Held, a trace joined before its first chunk has its session's TTL already, longer.
  extend(key, hold and orphan_ttl * 2 or orphan_ttl, first and not hold)
  k = k + 1
end
in_batches('ZADD', KEYS[5], waiting, 1000)
local scheduled = 0
-- First every session's chunks and the ids of its traces, so that one ZMSCORE looks up the traces
-- of all of them. Not held, with no trace waiting in this shard (traffic whose every span names its
-- session), there is nothing to look up: the ids are skipped, which saves a Lua string a trace.
local sessions, ids, owners = {}, {}, {}
local lookup = hold or redis.call('EXISTS', KEYS[5]) == 1
for s = 1, u32() do
  -- Its end spans (pending: found waiting with its traces; own: the request's) only when it has any:
  -- most sessions of most requests have none, and a table a session costs as much as a call.
  local session = {key = KEYS[k]}
  k = k + 1
  session.member = str()
  for c = 1, u32() do session.first = select(2, count_chunk(session.key)) end
  local traces = u32()
  if lookup then
    for t = 1, traces do
      ids[#ids + 1] = string.sub(blob, pos, pos + ID - 1)
      owners[#ids] = session
      pos = pos + ID
    end
  else
    pos = pos + traces * ID
  end
  local ends = u32()
  if ends > 0 then
    session.own = {}
    for e = 1, ends do session.own[e] = str() end
  end
  sessions[s] = session
end
-- Held: every trace is marked joined. Else only those that waited (in the orphan set) join.
local waited = {}
for first = 1, #ids, 1000 do
  local last = math.min(first + 999, #ids)
  local scores = not hold and redis.call('ZMSCORE', KEYS[5], unpack(ids, first, last))
  for t = first, last do
    if hold or scores[t - first + 1] then
      local session = owners[t]
      local pending = join(tag .. 't:' .. ids[t], session.member)
      if pending then
        session.pending = session.pending or {}
        session.pending[#session.pending + 1] = pending
      end
      if not hold then waited[#waited + 1] = ids[t] end
    end
  end
end
in_batches('ZREM', KEYS[5], waited, 1000)
-- Whether one of the end spans (nil: none) differs from the session's: it (re)schedules the session.
local function schedule_ends(session, ends)
  if not ends then return false end
  local ended = false
  for _, end_span in ipairs(ends) do
    if redis.call('HGET', session.key, 'end_span') ~= end_span then
      redis.call('HSET', session.key, 'end_span', end_span, 'trigger', '$END_SPAN')
      redis.call('ZADD', KEYS[1], due_at, session.member)
      ended = true
    end
  end
  return ended
end
local idle_at, max_at = {}, {}
for _, session in ipairs(sessions) do
  local key, member = session.key, session.member
  -- End spans that waited with a trace, then the request's own: the last one differing wins.
  local ended = schedule_ends(session, session.pending)
  ended = schedule_ends(session, session.own) or ended
  if ended then
    scheduled = scheduled + 1
  elseif reevaluate and not session.first and redis.call('HEXISTS', key, 'revision') == 1 then
    -- Judged (or being judged) already: these spans make a new revision. (A hash is judged only
    -- once it counts spans: never before its first chunk.)
    if redis.call('ZADD', KEYS[1], 'NX', due_at, member) == 1 then
      redis.call('HSET', key, 'trigger', '$LATE_SPANS')
      scheduled = scheduled + 1
    end
  end
  if idle > 0 then
    idle_at[#idle_at + 1] = now + idle
    idle_at[#idle_at + 1] = member
  end
  if max_duration > 0 then
    max_at[#max_at + 1] = now + max_duration
    max_at[#max_at + 1] = member
  end
  if hold then
    local decision = redis.call('HGET', key, 'decision')
    if not decision then
      redis.call('ZADD', KEYS[4], 'NX', now + hold_max, member)
    elseif string.sub(decision, 1, 4) == '$KEPT' then
      release_later(member)
    end
  end
  if session.first then redis.call('EXPIRE', key, session_ttl) else extend(key, session_ttl) end
end
in_batches('ZADD', KEYS[2], idle_at, 1000)
in_batches('ZADD', KEYS[3], max_at, 1000, 'NX')
local reply = {scheduled, overflow}
local joined_ids = {}
for j = 1, u32() do
  local member = str()
  local pending = join(KEYS[k], member)
  joined_ids[j] = string.sub(KEYS[k], -ID)
  k = k + 1
  if pending then
    reply[#reply + 1] = member
    reply[#reply + 1] = pending
  end
end
in_batches('ZREM', KEYS[5], joined_ids, 1000)
return reply
"""

# KEYS: due set, idle set, max-duration set, job stream, orphan set. ARGV: now, batch size, stream
# max length, 1 to trim the orphan set of traces whose orphan TTL passed (when spans are not held:
# else RELEASE_OVERDUE takes them).
# Moving due sessions to the stream in one script means a session is queued exactly once even when
# several replicas poll at the same moment. A job from the due set takes its trigger from the session
# hash; the other two name theirs. Returns how many moved and the earliest time still waiting ('' if none).
DISPATCH_DUE = """
local moved = 0
local next_due = ''
local sources = {{KEYS[1], ''}, {KEYS[2], '$IDLE_TIMEOUT'}, {KEYS[3], '$MAX_DURATION'}}
for _, source in ipairs(sources) do
  local due = redis.call('ZRANGEBYSCORE', source[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
  for _, m in ipairs(due) do
    redis.call('ZREM', source[1], m)
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], '*', 'session', m, 'trigger', source[2])
  end
  moved = moved + #due
  local first = redis.call('ZRANGE', source[1], 0, 0, 'WITHSCORES')
  if first[2] and (next_due == '' or tonumber(first[2]) < tonumber(next_due)) then next_due = first[2] end
end
if ARGV[4] == '1' then redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', ARGV[1]) end
return {moved, next_due}
"""

# KEYS: the shard's hold set, orphan set and release stream. ARGV: now, batch size, the shard's key
# tag ("<prefix>:{<tag>}:"), 1 to drop traces without a session (else they are forwarded), session
# ttl. A session still without a verdict at forwarding.hold_max_s is decided "kept" (no rule) and
# queued for release; one decided meanwhile is left alone. A trace that never joined a session is
# queued for release (its hash kept until then) or deleted. Returns the sessions released overdue,
# the traces queued and the traces dropped.
RELEASE_OVERDUE = """
local now, batch, tag = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local overdue, forwarded, dropped = 0, 0, 0
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, batch)) do
  redis.call('ZREM', KEYS[1], member)
  local key = tag .. 's:' .. member
  if redis.call('EXISTS', key) == 1 and redis.call('HSETNX', key, 'decision', '$OVERDUE') == 1 then
    redis.call('XADD', KEYS[3], '*', 'session', member)
    overdue = overdue + 1
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, batch)) do
  redis.call('ZREM', KEYS[2], id)
  local key = tag .. 't:' .. id
  if redis.call('HEXISTS', key, 'n') == 1 and redis.call('HEXISTS', key, 'joined') == 0 then
    if ARGV[4] == '1' then
      redis.call('DEL', key)
      dropped = dropped + 1
    else
      redis.call('EXPIRE', key, ARGV[5])
      redis.call('XADD', KEYS[3], '*', 'trace', key)
      forwarded = forwarded + 1
    end
  end
end
return {overdue, forwarded, dropped}
"""

# KEYS: session hash. A worker's claim on a job: nothing to do when the session is gone, or when no
# span arrived since it was last judged (a duplicate trigger, a job finished before its worker died);
# else the session's next revision, the counter it covers and the trigger that scheduled it.
CLAIM_REVISION = """
local n = redis.call('HGET', KEYS[1], 'n')
if not n then return {-1} end
if n == redis.call('HGET', KEYS[1], 'judged_n') then return {0} end
local revision = redis.call('HINCRBY', KEYS[1], 'revision', 1)
return {revision, n, redis.call('HGET', KEYS[1], 'trigger') or ''}
"""

# KEYS: session hash, the revision's result key, outbox stream, outbox overflow counter, the shard's
# hold set and release stream, then per evaluation backend its outbox stream and overflow counter.
# ARGV: judged counter, result record, OTLP carrier request, console line, result ttl, outbox max
# length, distinct spans judged, the span and trace subjects judged so far (JSON), the result records
# for the backends (JSON), the results as an OTLP logs request (empty: not sent as logs), the
# forwarding decision (empty: spans are not held), the session's member name, and the named
# exporters the verdict goes to as well (comma-separated).
# The verdict is recorded and queued for delivery in one step, so it is published once even when the
# job is taken over later; so are the forwarding decision and a kept session's place in the release
# stream. 0: already committed; -1: outbox full (counted; the job retries later). A backend's full
# outbox does not hold the verdict back: that backend misses it, counted.
COMMIT_VERDICT = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('XLEN', KEYS[3]) >= tonumber(ARGV[6]) then
  redis.call('INCR', KEYS[4])
  return -1
end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[5])
redis.call('XADD', KEYS[3], '*', 'otlp', ARGV[3], 'json', ARGV[4], 'logs', ARGV[10], 'to', ARGV[13])
if ARGV[11] ~= '' then
  redis.call('HSET', KEYS[1], 'decision', ARGV[11])
  redis.call('ZREM', KEYS[5], ARGV[12])
  if string.sub(ARGV[11], 1, 4) == '$KEPT' then redis.call('XADD', KEYS[6], '*', 'session', ARGV[12]) end
end
for k = 7, #KEYS, 2 do
  if redis.call('XLEN', KEYS[k]) >= tonumber(ARGV[6]) then
    redis.call('INCR', KEYS[k + 1])
  else
    redis.call('XADD', KEYS[k], '*', 'records', ARGV[9])
  end
end
redis.call('HSET', KEYS[1], 'judged_n', ARGV[1], 'judged_spans', ARGV[7], 'judged_subjects', ARGV[8])
return 1
"""

# KEYS: session hash. ARGV: the revision claimed, the counter it covered. A claim that found nothing
# new once loaded (the spans that moved the counter were copies of spans judged before: a client
# retrying an Export) gives its revision back, unless another worker claimed one since.
RELEASE_REVISION = """
if redis.call('HGET', KEYS[1], 'revision') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'revision', tonumber(ARGV[1]) - 1, 'judged_n', ARGV[2])
end
return 0
"""


# What the Lua side writes or compares, named as the Python side spells it.
WORDS = {
    **{t.name: t.value for t in Trigger},
    "KEPT": Forwarding.KEPT.value,
    "OVERDUE": ForwardingDecision(Forwarding.KEPT, NO_RULE).encode(),
}


class Script:
    """A Lua script; `$NAME` in its source stands for the WORDS entry of that name (a Trigger, a
    forwarding decision), so the names Redis records are the ones the Python side compares with."""

    def __init__(self, source: str):
        self.source = Template(source).substitute(WORDS)
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()

    async def run(self, client: Client, keys: Sequence[bytes | str], args: list):
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await client.eval(self.source, len(keys), *keys, *args)


SCRIPTS = [
    Script(s) for s in (STORE_REQUEST, DISPATCH_DUE, CLAIM_REVISION, COMMIT_VERDICT, RELEASE_REVISION, RELEASE_OVERDUE)
]
store_request, dispatch_due, claim_revision, commit_verdict, release_revision, release_overdue = SCRIPTS


async def load_scripts(client: Client) -> None:
    for script in SCRIPTS:
        await client.script_load(script.source)
