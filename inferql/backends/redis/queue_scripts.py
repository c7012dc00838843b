"""The work queue's Lua scripts: each runs as one step on the server.
``RedisWorkQueue`` (queue.py) registers them and builds their arguments.

Each can run twice with the same arguments and change nothing the second time:
the client sends a command again when its reply is lost.
"""

from __future__ import annotations

# KEYS: the queue; ARGV: the group, the consumer
LEAVE_IF_NOTHING_PENDING = """
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then return 0 end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
"""

# Hand an entry back unrun: count the delivery as handed back (so that the
# next one does not count as another) and mark the entry idle long enough that
# the next XAUTOCLAIM, by any worker, takes it. Only while the entry is pending
# under this consumer in the delivery being handed back (its attempt: times
# delivered less times handed back): otherwise this is the same hand-back sent
# again, or the entry was acked or taken over since, and nothing changes.
# KEYS: the queue, its hand-backs
# ARGV: the group, the consumer, the entry id, the delivery's attempt, idle ms
HAND_BACK = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
if #pending == 0 then return 0 end
local handed = tonumber(redis.call('HGET', KEYS[2], ARGV[3]) or 0)
if pending[1][4] - handed ~= tonumber(ARGV[4]) then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'IDLE', ARGV[5], 'JUSTID')
return 1
"""
