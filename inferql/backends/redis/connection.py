"""One Redis client per process, and the translation of its failures into the
domain's ``UnavailableError``.

Commands fail fast while Redis is away (a refused connection is retried a few
times with a short backoff, then reported), so a request gets a clear
UNAVAILABLE instead of hanging; the pool reconnects by itself once Redis is
back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from inferql.errors import UnavailableError

#: Failures that mean "Redis cannot be reached right now".
CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)

_SOCKET_TIMEOUT_S = 5.0


def connect(url: str) -> Redis:
    """A client for ``url``. Blocking reads must block for less than the socket
    timeout; the work queue blocks for at most a second at a time."""
    return Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=2.0,
        socket_timeout=_SOCKET_TIMEOUT_S,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=15,
    )


@asynccontextmanager
async def reaching_redis() -> AsyncIterator[None]:
    """Raise ``UnavailableError`` for a lost or refused connection, and for a Redis
    that is loading its data after a restart."""
    try:
        yield
    except CONNECTION_ERRORS as error:
        raise UnavailableError("The job backend (Redis) cannot be reached; retry shortly.") from (
            error
        )
    except ResponseError as error:
        if str(error).startswith("LOADING"):
            raise UnavailableError("The job backend (Redis) is starting; retry shortly.") from (
                error
            )
        raise
