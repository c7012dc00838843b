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
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

from graphql import GraphQLFormattedError
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

from inferql.errors import ErrorCode
from inferql.resolvers.context import Context


class PingingTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    _pinger: asyncio.Task[None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        shared = getattr(self.view, "shared_streams", None)
        if shared is not None:
            # The handler only calls the schema's ``stream``, which SharedStreams
            # provides: ``jobEvents`` runs once per query and caller, not per socket.
            self.schema = cast(BaseSchema, shared)

    async def handle_message(self, message: Message) -> None:
        problem = _malformed(message)
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
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
        await super().handle_subscribe(message)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        interval = self.view.keep_alive_interval
        if (
            self.connection_acknowledged
            and self.view.keep_alive
            and interval
            and self._pinger is None
        ):
            self._pinger = asyncio.create_task(self._ping_every(interval))

    async def _ping_every(self, interval: float) -> None:
        # A socket that went away ends the pings; the handler shuts down on its own.
        with contextlib.suppress(WebSocketDisconnected, RuntimeError, OSError):
            while True:
                await asyncio.sleep(interval)
                await self.send_message({"type": "ping"})

    async def shutdown(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pinger
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
