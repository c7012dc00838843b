"""graphql-transport-ws with server pings.

Strawberry's handler already honours the protocol's close codes: 4400 (bad
message), 4401 (subscribe before ``connection_ack``), 4403 (``on_ws_connect``
raised ConnectionRejectionError), 4408 (no ``connection_init`` in time), 4409
(duplicate operation id) and 4429 (a second ``connection_init``). This adds
what it lacks: once the connection is acknowledged, the server sends a
``ping`` every ``keep_alive_interval`` seconds, so proxies keep an idle socket
open and clients notice a dead server (every graphql-ws client answers
``pong``). It subscribes through the view's
:class:`inferql.http.shared_streams.SharedStreams`. And it closes with 4400
on a message of the wrong shape (a ``subscribe`` whose ``payload`` is not an
object, an ``id`` that is not a string, ...), where strawberry's handler would
fail on it and drop the socket without a close code. A ``subscribe`` beyond the
operations one socket may run at once is answered with an ``error`` that has
its code (RATE_LIMITED), as every other error has.

The credential a socket connected with is checked again before each
``subscribe`` (queries and mutations too) and, while the socket is open, every
``ws_auth_check_s`` for an API key and at the expiry of a JWT (see
:meth:`inferql.security.guard.Guard.recheck_websocket`). One that no longer
holds ends every operation and closes the socket with 4403, as a refused
``connection_init`` is closed: graphql-ws clients treat 4403 as retryable, so
they connect again with fresh ``connectionParams`` (a refreshed token) and
subscribe again, where an ``error`` for one operation would end it for good
and leave the socket open with a credential that can never work again. A
credential that cannot be checked now (the key store is unavailable) fails the
new operation with its code (UNAVAILABLE), and a periodic check is tried again
at the next interval.

Strawberry's handler hands the schema a subscribe's query, variables and
operation name, never its ``extensions``: here they reach ``stream`` as the
operation's extensions, so automatic persisted queries and the allow-list's
operation ids work as over HTTP. A payload without ``query`` (or with ``null``)
is one that names a persisted query; with none, the operation ends with an
``error`` (BAD_REQUEST, as over HTTP). A refusal raised as an operation starts
(an unknown persisted query, an operation off the allow-list, a document too
large) is an ``error`` message with its code, where strawberry's handler would
end the operation with a bare ``complete``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextvars import ContextVar
from typing import Any, cast

from graphql import GraphQLError, GraphQLFormattedError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema.base import BaseSchema
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    ErrorMessage,
    Message,
    SubscribeMessage,
)
from strawberry.types.execution import PreExecutionError

from inferql.errors import ErrorCode, InferqlError, UnauthenticatedError
from inferql.resolvers.context import Context

logger = logging.getLogger(__name__)

# The extensions of the subscribe whose operation task is being created: the
# task copies the context, so its ``stream`` call reads them (strawberry's
# handler passes the schema no more than query, variables and operation name).
_OPERATION_EXTENSIONS: ContextVar[dict[str, Any] | None] = ContextVar(
    "operation_extensions", default=None
)


class PingingTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    _watcher: asyncio.Task[None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        shared = getattr(self.view, "shared_streams", None)
        # The handler only calls the schema's ``stream``: SharedStreams provides
        # it (``jobEvents`` runs once per query and caller, not per socket), and
        # OperationStreams adds the extensions and codes the refusals.
        self.schema = cast(
            BaseSchema, OperationStreams(shared if shared is not None else self.schema, self.schema)
        )

    async def handle_message(self, message: Message) -> None:
        problem = _malformed(message)
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged and not await self._credential_holds(message["id"]):
            return
        limit = self.max_subscriptions_per_connection
        if (
            limit is not None
            and len(self.operations) >= limit
            and self.connection_acknowledged
            and message["id"] not in self.operations  # else: 4409, as strawberry closes
        ):
            error: GraphQLFormattedError = {
                "message": f"At most {limit} operations run at once on one socket; complete "
                "one, or open another socket.",
                "extensions": {"code": ErrorCode.RATE_LIMITED.value, "limit": limit},
            }
            refusal: ErrorMessage = {"id": message["id"], "type": "error", "payload": [error]}
            await self.send_message(refusal)
            return
        payload = message["payload"]
        if "query" not in payload:  # strawberry's handler reads it; a persisted query has none
            message = cast(SubscribeMessage, {**message, "payload": {**payload, "query": None}})
        extensions = payload.get("extensions")
        token = _OPERATION_EXTENSIONS.set(extensions or None)
        try:
            await super().handle_subscribe(message)  # creates the operation's task
        finally:
            _OPERATION_EXTENSIONS.reset(token)

    async def _credential_holds(self, operation_id: str) -> bool:
        """Check the socket's credential before an operation runs: one refused
        closes the socket (4403); one that cannot be checked now fails the
        operation with its code."""
        try:
            await self.context.services.guard.recheck_websocket(self.context.security)
        except UnauthenticatedError:
            await self._close_forbidden()
            return False
        except InferqlError as problem:
            error: GraphQLFormattedError = {
                "message": problem.message,
                "extensions": {**problem.extensions, "code": problem.code.value},
            }
            await self.send_message({"id": operation_id, "type": "error", "payload": [error]})
            return False
        return True

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        if not self.connection_acknowledged or self._watcher is not None:
            return
        interval = self.view.keep_alive_interval if self.view.keep_alive else None
        check, expires_at = self.context.services.guard.websocket_watch(self.context.security)
        if interval or check or expires_at is not None:
            self._watcher = asyncio.create_task(self._watch(interval or None, check, expires_at))

    async def _watch(
        self, ping: float | None, check: float | None, expires_at: float | None
    ) -> None:
        """One task per socket: a ping every ``ping`` seconds, the credential
        checked again every ``check`` seconds, and the socket closed with 4403 at
        ``expires_at`` (seconds since the epoch)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        next_ping = now + ping if ping else math.inf
        next_check = now + check if check else math.inf
        expiry = math.inf if expires_at is None else now + (expires_at - time.time())
        # A socket that went away ends the task; the handler shuts down on its own.
        with contextlib.suppress(WebSocketDisconnected, RuntimeError, OSError):
            while (deadline := min(next_ping, next_check, expiry)) < math.inf:
                await asyncio.sleep(max(0.0, deadline - loop.time()))
                now = loop.time()
                if now >= expiry:
                    logger.info("closing a websocket: its token expired")
                    await self._close_forbidden()
                    return
                if check and now >= next_check:
                    next_check = now + check
                    if not await self._still_valid():
                        await self._close_forbidden()
                        return
                if ping and now >= next_ping:
                    next_ping = now + ping
                    await self.send_message({"type": "ping"})

    async def _still_valid(self) -> bool:
        """The periodic check: False for a credential refused now (or a check
        that failed unexpectedly: closed, not left open); True while the key
        store cannot be reached (tried again at the next check)."""
        try:
            await self.context.services.guard.recheck_websocket(self.context.security)
        except UnauthenticatedError:
            logger.info("closing a websocket: its API key is no longer valid")
            return False
        except InferqlError as problem:
            logger.warning("could not check an open websocket's API key: %s", problem.message)
        except Exception:
            logger.exception("checking an open websocket's API key failed; closing it")
            return False
        return True

    async def _close_forbidden(self) -> None:
        """End every operation of the socket, then close it with 4403."""
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        with contextlib.suppress(WebSocketDisconnected, RuntimeError, OSError):
            await self.websocket.close(code=4403, reason="Forbidden")

    async def shutdown(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await super().shutdown()


# The members of a subscribe message's payload, and the JSON types each may have.
_SUBSCRIBE_PAYLOAD: dict[str, tuple[type, ...]] = {
    "query": (str, type(None)),  # none: a persisted query names it in `extensions`
    "variables": (dict, type(None)),
    "operationName": (str, type(None)),
    "extensions": (dict, type(None)),
}


def _malformed(message: object) -> str | None:
    """Why ``message`` is not a graphql-transport-ws message, or None if it is one
    (of a known type or not: the handler closes on an unknown type itself)."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "A message is a JSON object with a string `type`."
    kind = message["type"]
    if kind in ("subscribe", "complete") and not isinstance(message.get("id"), str):
        return f"A `{kind}` message needs a string `id`."
    if kind == "subscribe":
        payload = message.get("payload")
        if not isinstance(payload, dict):
            return "A `subscribe` message needs an object `payload`."
        for member, types in _SUBSCRIBE_PAYLOAD.items():
            if not isinstance(payload.get(member), types):
                return f"The `{member}` of a `subscribe` payload has the wrong type."
    return None


class OperationStreams:
    """What the handler calls ``stream`` on: ``streams`` (the schema, or the view's
    SharedStreams), given the subscribe's extensions, with a refusal raised as
    the operation starts turned into the first result, an error with its code."""

    def __init__(self, streams: Any, schema: BaseSchema) -> None:
        self._streams = streams
        self._schema = schema

    async def stream(self, query: str | None, **options: Any) -> AsyncGenerator[Any, None]:
        extensions = _OPERATION_EXTENSIONS.get()
        if extensions is not None:  # else left out: SharedStreams shares only without
            options.setdefault("operation_extensions", extensions)
        return self._coded(await self._streams.stream(query, **options))

    async def _coded(self, results: AsyncIterator[Any]) -> AsyncGenerator[Any, None]:
        closing = cast(AsyncGenerator[Any, None], results)
        async with contextlib.aclosing(closing):
            try:
                first = await anext(closing)
            except StopAsyncIteration:
                return
            except Exception as refused:  # as strawberry's ``execute`` catches it over HTTP
                error = GraphQLError(str(refused), original_error=refused)
                self._schema.process_errors([error])  # its code (INTERNAL if unexpected)
                yield PreExecutionError(data=None, errors=[error])
                return
            yield first
            async for result in closing:
                yield result
