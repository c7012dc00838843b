"""The job store's Lua scripts: each runs as one step on the server, so a job's
write, its index entries, its counters, its event and its queue entry never
come apart. ``RedisJobStore`` (store.py) registers them and builds their
arguments.

Each can run twice with the same arguments and change nothing the second
time: the client sends a command again when its reply is lost (a timeout or a
dropped connection after the server ran it), and a job must not be queued,
counted or announced twice for that.
"""

from __future__ import annotations

# KEYS: job hash, old status index, new status index, counters
# ARGV: revision read, new json, new status, new revision, job id,
#       ttl ms (0: none), counter to increment ("": none),
#       event channel ("": announce nothing), event
COMPARE_AND_SET = """
local revision = redis.call('HGET', KEYS[1], 'revision')
if revision ~= ARGV[1] then
  -- Sent again after a lost reply: the write is there already.
  if revision == ARGV[4] and redis.call('HGET', KEYS[1], 'json') == ARGV[2] then return 1 end
  return 0
end
redis.call('HSET', KEYS[1], 'json', ARGV[2], 'status', ARGV[3], 'revision', ARGV[4])
if KEYS[2] ~= KEYS[3] then
  redis.call('ZREM', KEYS[2], ARGV[5])
  redis.call('ZADD', KEYS[3], 0, ARGV[5])
end
if tonumber(ARGV[6]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[6]) end
if ARGV[7] ~= '' then redis.call('HINCRBY', KEYS[4], ARGV[7], 1) end
if ARGV[8] ~= '' then redis.call('PUBLISH', ARGV[8], ARGV[9]) end
return 1
"""

# KEYS: job hash, every job's id, status index, owner's index, counters, work queue,
#       webhook deliveries, webhooks due
# ARGV: json, status, revision, job id, ttl ms (0: none), counter of a finished
#       job ("": none), event channel ("": announce nothing), event,
#       the work queue entry's field ("": do not queue),
#       webhook delivery id ("": none), its json, when it is due (ms)
CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end  -- sent again: done already
redis.call('HSET', KEYS[1], 'json', ARGV[1], 'status', ARGV[2], 'revision', ARGV[3])
redis.call('ZADD', KEYS[2], 0, ARGV[4])
redis.call('ZADD', KEYS[3], 0, ARGV[4])
redis.call('ZADD', KEYS[4], 0, ARGV[4])
redis.call('HINCRBY', KEYS[5], 'submitted', 1)
if tonumber(ARGV[5]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
if ARGV[6] ~= '' then redis.call('HINCRBY', KEYS[5], ARGV[6], 1) end
if ARGV[7] ~= '' then redis.call('PUBLISH', ARGV[7], ARGV[8]) end
if ARGV[9] ~= '' then redis.call('XADD', KEYS[6], '*', ARGV[9], ARGV[4]) end
if ARGV[10] ~= '' then
  redis.call('HSETNX', KEYS[7], ARGV[10], ARGV[11])
  redis.call('ZADD', KEYS[8], 'NX', ARGV[12], ARGV[10])
end
return 1
"""
