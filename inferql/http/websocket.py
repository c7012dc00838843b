"""graphql-transport-ws with server pings.

Strawberry's handler already honours the protocol's close codes: 4400 (bad
message), 4401 (subscribe before ``connection_ack``), 4403 (``on_ws_connect``
raised ConnectionRejectionError), 4408 (no ``connection_init`` in time), 4409
(duplicate operation id) and 4429 (a second ``connection_init``). This adds
what it lacks: once the connection is acknowledged, the server sends a
``ping`` every ``keep_alive_interval`` seconds, so proxies keep an idle socket
open and clients notice a dead server (every graphql-ws client answers
``pong``). And it subscribes through the view's
:class:`inferql.http.shared_streams.SharedStreams`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema.base import BaseSchema
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage

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
