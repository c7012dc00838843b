"""Shared subscriptions: a ``jobEvents`` subscription runs once per distinct
(document, variables, operation name, caller), however many sockets ask for it.

Without this, every socket executes the selection of every event itself: with a
thousand dashboards open on one caller's events, one event costs a thousand
executions. Here the first socket's subscription becomes the producer; every
socket with the same key is a consumer of its results. A consumer joining late
sees the events from then on, as a fresh ``jobEvents`` subscription would. The
producer stops when its last consumer leaves.

Only ``jobEvents`` is shared: its results depend on nothing but the caller (the
``job`` subscription starts with a snapshot of its own, ``stats`` with the
current figures). Each consumer has a bounded buffer; one that falls behind is
ended with OVERLOADED, as the event fan-out does for a single socket.

The key's caller is the one a socket connected as, which never changes (the
guard closes a socket whose credential no longer names it); each consumer's
socket is checked on its own. A socket closed because its key was revoked or
its token expired leaves the stream; the others with an equal caller (its
other sockets, another token of the same subject) keep it, until their own
credentials stop working.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Hashable
from functools import lru_cache
from typing import Any

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType, parse
from graphql.error import GraphQLSyntaxError
from strawberry.schema.base import BaseSchema
from strawberry.types import ExecutionResult

from inferql.errors import ErrorCode
from inferql.schema.documents import utf8_length_over

logger = logging.getLogger(__name__)

SHARED_FIELDS = frozenset({"jobEvents"})
_END = object()
_OVERLOADED = object()


@lru_cache(maxsize=256)
def is_shareable(query: str, operation_name: str | None) -> bool:
    """Whether ``query`` is one subscription that selects only shared fields."""
    try:
        document = parse(query, no_location=True)
    except GraphQLSyntaxError:
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or len(document.definitions) != 1:
        return False  # fragments or several operations: leave it to strawberry
    (operation,) = operations
    if operation.operation is not OperationType.SUBSCRIPTION or operation.directives:
        return False
    if operation_name is not None and (
        operation.name is None or operation.name.value != operation_name
    ):
        return False
    selections = operation.selection_set.selections
    return all(
        isinstance(s, FieldNode) and s.name.value in SHARED_FIELDS and not s.directives
        for s in selections
    )


class _Producer:
    """One execution of a subscription, its results offered to every consumer."""

    def __init__(self, buffer: int) -> None:
        self.buffer = buffer
        self.consumers: set[asyncio.Queue[object]] = set()
        self.task: asyncio.Task[None] | None = None

    async def run(self, source: Callable[[], Awaitable[AsyncGenerator[Any, None]]]) -> None:
        try:
            results = await source()
            async with contextlib.aclosing(results):
                async for result in results:
                    for queue in list(self.consumers):
                        self._offer(queue, result)
        finally:
            for queue in list(self.consumers):
                if queue.full():
                    queue.get_nowait()  # the end matters more than one more event
                queue.put_nowait(_END)

    def _offer(self, queue: asyncio.Queue[object], item: object) -> None:
        try:
            queue.put_nowait(item)
        except asyncio.QueueFull:
            self.consumers.discard(queue)  # it hears nothing more but the refusal
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(_OVERLOADED)


class SharedStreams:
    """Stands in for the schema in the websocket handler (which calls only
    :meth:`stream`): shares ``jobEvents`` subscriptions, passes the rest through."""

    def __init__(self, schema: BaseSchema, *, buffer: int, max_query_bytes: int) -> None:
        self._schema = schema
        self._buffer = buffer
        self._max_query_bytes = max_query_bytes
        self._producers: dict[Hashable, _Producer] = {}

    @property
    def producers(self) -> int:
        """Shared subscriptions running now."""
        return len(self._producers)

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        **options: Any,
    ) -> AsyncIterator[Any]:
        def source() -> Awaitable[AsyncGenerator[Any, None]]:
            return self._schema.stream(
                query,
                variable_values=variable_values,
                context_value=context_value,
                root_value=root_value,
                operation_name=operation_name,
                **options,
            )

        caller = getattr(context_value, "caller", None)
        if query is None or caller is None or root_value is not None or options:
            return await source()
        if utf8_length_over(query, self._max_query_bytes):
            return await source()  # the schema refuses it, unparsed and uncached
        if not is_shareable(query, operation_name):
            return await source()
        variables = json.dumps(variable_values or {}, sort_keys=True, default=str)
        key = (query, variables, operation_name, caller)
        producer = self._producers.get(key)
        if producer is None:
            producer = _Producer(self._buffer)
            self._producers[key] = producer
            producer.task = asyncio.create_task(self._run(key, producer, source))
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=self._buffer)
        producer.consumers.add(queue)
        return self._consume(key, producer, queue)

    async def _run(
        self,
        key: Hashable,
        producer: _Producer,
        source: Callable[[], Awaitable[AsyncGenerator[Any, None]]],
    ) -> None:
        try:
            await producer.run(source)
        except Exception:  # its consumers see their stream end
            logger.exception("a shared subscription failed")
        finally:
            if self._producers.get(key) is producer:
                del self._producers[key]

    async def _consume(
        self, key: Hashable, producer: _Producer, queue: asyncio.Queue[object]
    ) -> AsyncGenerator[Any, None]:
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    return
                if item is _OVERLOADED:
                    yield _overloaded()
                    return
                yield item
        finally:
            producer.consumers.discard(queue)
            if not producer.consumers and producer.task is not None:
                if self._producers.get(key) is producer:
                    del self._producers[key]
                producer.task.cancel()


def _overloaded() -> ExecutionResult:
    error = GraphQLError(
        "This subscription fell too far behind its events; subscribe again.",
        extensions={"code": ErrorCode.OVERLOADED.value},
    )
    return ExecutionResult(data=None, errors=[error])
