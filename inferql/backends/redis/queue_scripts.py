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
