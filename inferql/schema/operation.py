"""The schema's one extension: each stage of an operation, in one place.

Strawberry builds a context manager for every hook of every extension, for
every operation. With an extension per concern (metrics, the token limit, the
validation rules, the parse and validation caches, admission, persisted
queries: eleven hooks) that machinery, and the validation cache hashing the
whole parsed document on every lookup, were ~15% of the instructions of a
``classify`` served without the model (``python -m benchmarks.serving``). So
each concern is a plain function or object of its own module, and this
extension calls them in order, with one hook per stage:

- operation: refuse a document over the size limit, resolve a persisted query
  (``inferql.persisted``); count and time the operation when it ends
  (``inferql.schema.extensions``);
- parse: the cached, token-limited parse (``inferql.schema.documents``);
- validate: the cached validation, then the allow-list;
- execute: count a subscription, admit the operation (``inferql.security``:
  scopes, queue depth, rate limit) so that a refused one never runs, and store
  an automatic persisted query that validated.

Strawberry's runner still wrapped each of those four hooks in a context manager
of its own per operation (~10% of the event loop's time on a ``classify``), so
the schema enters the stages through :class:`OperationRunner`, which calls the
extension's methods directly; strawberry's generic runner, with the ``on_*``
hooks, serves only when tracing adds an extension of its own.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

from graphql import GraphQLError, OperationType
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext

from inferql.errors import BadRequestError, OperationNotAllowedError
from inferql.persisted import NOT_ALLOWED_MESSAGE, Resolved
from inferql.schema.extensions import record_operation, subscription_started

if TYPE_CHECKING:
    from inferql.schema import InferqlSchema
    from inferql.schema.admission import OperationShape


class OperationExtension(SchemaExtension):
    """Each stage is a plain method (``begin``/``end``, ``parse``, ``validate``,
    ``admit``), which :class:`OperationRunner` calls directly; the ``on_*`` hooks
    are the same methods as strawberry's generic runner expects them, used when
    other extensions run beside this one (tracing)."""

    def __init__(self) -> None:
        super().__init__()
        self._resolved = Resolved(None)
        self._refused = False
        self._subscription: str | None = None
        self._started = 0.0

    @property
    def _schema(self) -> InferqlSchema:
        return cast("InferqlSchema", self.execution_context.schema)

    async def begin(self) -> None:
        """The operation starts: refuse a document sent in full that is too large
        (before it is hashed, stored or parsed), resolve a persisted query. A
        refusal raised here becomes the operation's error (strawberry; over a
        websocket, ``inferql.http.websocket``); the operation is over then."""
        context = self.execution_context
        self._started = time.perf_counter()
        try:
            if context.query is not None:
                self._schema.documents.check_size(context.query)
            persisted = self._schema.persisted
            if persisted is not None and context.operation_extensions:
                self._resolved = await persisted.resolve(
                    context.query, context.operation_extensions
                )
                context.query = self._resolved.document
            else:
                self._resolved = Resolved(context.query)
        except BaseException:
            self.end(failed=True)
            raise

    def end(self, *, failed: bool) -> None:
        """The operation is over (``failed``: by an exception): count and time it."""
        context = self.execution_context
        if failed:
            self._refused = context.result is None and not context.pre_execution_errors
        record_operation(
            context,
            time.perf_counter() - self._started,
            refused=self._refused,
            subscription=self._subscription,
        )

    def parse(self) -> None:
        context = self.execution_context
        documents = self._schema.documents
        # Should the cached parse fail, strawberry parses again and reports the
        # error; with the same token limit.
        context.parse_options["max_tokens"] = documents.max_tokens
        if context.query is not None and context.graphql_document is None:
            try:
                context.graphql_document = documents.parse(context.query)
            except GraphQLError:
                pass

    def validate(self) -> None:
        context = self.execution_context
        schema = self._schema
        query, document = context.query, context.graphql_document
        if document is not None and context.pre_execution_errors is None:
            # Strawberry validates only if no hook has set the errors (a list).
            errors = (
                schema.documents.validate(query)
                if query is not None
                else schema.documents.validate_document(document)
            )
            if query is not None and schema.persisted and not schema.persisted.permits(query):
                # The allow-list's refusal replaces validation's errors, so that
                # a document that is not allowed learns nothing about the schema.
                refused = OperationNotAllowedError(NOT_ALLOWED_MESSAGE)
                errors = [GraphQLError(refused.message, original_error=refused)]
            context.pre_execution_errors = list(errors)

    async def admit(self) -> None:
        """Before execution: count a subscription, admit the operation (a refusal
        raised here means it never runs), store an automatic persisted query."""
        context = self.execution_context
        schema = self._schema
        assert context.graphql_document is not None
        shape = schema.shapes.shape(context.query, context.graphql_document, context.operation_name)
        self._subscription = subscription_started(context, shape.root_fields if shape else ())
        request = context.context
        if request is not None:  # None only for in-process calls without a request
            if _subscribes(shape) and request.security.transport == "http":
                raise BadRequestError(
                    "Subscriptions run over a websocket (graphql-transport-ws) to this path."
                )
            plan = schema.shapes.plan(shape, context.variables)
            await request.services.guard.admit(request.security, plan)
        if schema.persisted is not None:
            # Reached only by a document that validated: now it is worth storing.
            await schema.persisted.remember(self._resolved)

    async def on_operation(self) -> AsyncIterator[None]:
        await self.begin()
        try:
            yield
        except BaseException:
            self.end(failed=True)
            raise
        self.end(failed=False)

    def on_parse(self) -> Iterator[None]:
        self.parse()
        yield

    def on_validate(self) -> Iterator[None]:
        self.validate()
        yield

    async def on_execute(self) -> AsyncIterator[None]:
        await self.admit()
        yield

    def get_results(self) -> dict[str, Any]:
        request = self.execution_context.context
        security = getattr(request, "security", None)
        if security is not None and security.replayed:
            return {"idempotency": {"replayed": True}}
        return {}


class OperationRunner(SchemaExtensionsRunner):
    """Strawberry's extension runner for an operation whose only extension is an
    :class:`OperationExtension`: it enters each stage by calling the method for
    it, where strawberry's own runner builds a context manager per hook
    (``inspect`` checks, ``contextlib`` wrappers and an exit stack each)."""

    def __init__(self, execution_context: ExecutionContext, extension: OperationExtension) -> None:
        super().__init__(execution_context, [extension])
        self._extension = extension

    def operation(self) -> Any:
        return _AsyncStage(self._extension.begin, self._extension.end)

    def parsing(self) -> Any:
        return _Stage(self._extension.parse)

    def validation(self) -> Any:
        return _Stage(self._extension.validate)

    def executing(self) -> Any:
        return _AsyncStage(self._extension.admit)


class _Stage:
    """A synchronous stage, entered with ``with`` or ``async with``."""

    __slots__ = ("_run",)

    def __init__(self, run: Callable[[], None]) -> None:
        self._run = run

    def __enter__(self) -> None:
        self._run()

    def __exit__(self, *exc_info: object) -> None:
        return None

    async def __aenter__(self) -> None:
        self._run()

    async def __aexit__(self, *exc_info: object) -> None:
        return None


class _AsyncStage:
    """An asynchronous stage, entered with ``async with``: ``enter``, then
    ``leave`` (told whether an exception ended it), if any."""

    __slots__ = ("_enter", "_leave")

    def __init__(
        self,
        enter: Callable[[], Awaitable[None]],
        leave: Callable[..., None] | None = None,
    ) -> None:
        self._enter = enter
        self._leave = leave

    async def __aenter__(self) -> None:
        await self._enter()

    async def __aexit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if self._leave is not None:
            self._leave(failed=exc_type is not None)


def _subscribes(shape: OperationShape | None) -> bool:
    return shape is not None and shape.operation.operation is OperationType.SUBSCRIPTION
