"""Lua scripts of the control API (EndSession, Reevaluate): scheduling a session by hand is one atomic
step, like every other trigger (see sessions/scripts.py for the session hash and the due set)."""

from __future__ import annotations

from enum import IntEnum

from collector_eval.sessions.scripts import Script


class Scheduled(IntEnum):
    """What SCHEDULE answers."""

    SCHEDULED = 1
    NOT_FOUND = -1
    BEING_JUDGED = -2  # a claimed revision is not committed yet
    NOTHING_NEW = -3
    REVISION_MOVED = -4  # another revision was judged since the caller read the session


# KEYS: session hash, due set, the result key of the revision the caller read.
# ARGV: the session's due-set member, due time, force a new revision (1 or 0), the revision the caller read.
# Scheduling puts the session in the due set (ZADD LT: an earlier due time, from an end span, stands)
# with trigger "control"; DISPATCH_DUE and the worker do the rest. The worker's CLAIM_REVISION skips a
# session whose counter "n" equals "judged_n" (nothing new since its last verdict), so forcing a new
# revision deletes judged_n. That is refused while a claimed revision is uncommitted: its commit would
# write judged_n back and the forced revision would be skipped. Without force, a session with nothing
# new is refused rather than scheduled for a job that would do nothing.
SCHEDULE = """
local n = redis.call('HGET', KEYS[1], 'n')
if not n then return -1 end
if ARGV[3] == '1' then
  local revision = tonumber(redis.call('HGET', KEYS[1], 'revision') or '0')
  if revision ~= tonumber(ARGV[4]) then return -4 end
  if revision > 0 and redis.call('EXISTS', KEYS[3]) == 0 then return -2 end
  redis.call('HDEL', KEYS[1], 'judged_n')
elseif n == redis.call('HGET', KEYS[1], 'judged_n') then
  return -3
end
redis.call('HSET', KEYS[1], 'trigger', '$CONTROL')
redis.call('ZADD', KEYS[2], 'LT', ARGV[2], ARGV[1])
return 1
"""

schedule = Script(SCHEDULE)
