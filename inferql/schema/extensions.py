"""Schema extensions that observe every operation: Prometheus metrics, the
operation fields of the request's log line, and (when tracing is on)
OpenTelemetry spans for the operation and each resolver."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from graphql import FieldNode, OperationDefinitionNode
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from inferql.observability import metrics
from inferql.observability.logging import note_operation

# Resolver arguments that hold the texts people send: kept out of span attributes.
_PRIVATE_ARGUMENTS = frozenset({"text", "texts", "input"})


class OperationMetrics(SchemaExtension):
    """Counts each operation by type, name and outcome, times queries and
    mutations, and counts the subscriptions running."""

    _subscription: str | None = None

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self._record(time.perf_counter() - started)

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if context.operation_type is OperationType.SUBSCRIPTION:
            self._subscription = _root_field(context.graphql_document, context.operation_name)
            metrics.ACTIVE_SUBSCRIPTIONS.labels(field=self._subscription).inc()
        yield

    def _record(self, elapsed: float) -> None:
        context = self.execution_context
        try:
            operation_type = context.operation_type.value
        except RuntimeError:  # the document did not parse
            operation_type = "unknown"
        result = context.result
        failed = bool(context.pre_execution_errors) or bool(result is not None and result.errors)
        name = metrics.operation_label(context.operation_name)
        metrics.GRAPHQL_OPERATIONS.labels(
            operation_type=operation_type,
            operation_name=name,
            outcome="error" if failed else "ok",
        ).inc()
        if operation_type in ("query", "mutation"):
            metrics.GRAPHQL_OPERATION_DURATION.labels(
                operation_type=operation_type, operation_name=name
            ).observe(elapsed)
        note_operation(operation_type, context.operation_name)
        if self._subscription is not None:
            metrics.ACTIVE_SUBSCRIPTIONS.labels(field=self._subscription).dec()


def tracing_extension() -> Callable[[], SchemaExtension]:
    """A factory of strawberry's OpenTelemetry extension that leaves texts out of
    resolver span attributes. Needs the ``otel`` extra."""
    from strawberry.extensions.tracing import OpenTelemetryExtension

    def without_texts(args: dict[str, Any], info: Any) -> dict[str, Any]:
        return {key: value for key, value in args.items() if key not in _PRIVATE_ARGUMENTS}

    return lambda: OpenTelemetryExtension(arg_filter=without_texts)


def _root_field(document: Any, operation_name: str | None) -> str:
    """The root field a subscription selects (a subscription selects exactly one)."""
    for definition in getattr(document, "definitions", ()):
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if operation_name is not None and (
            definition.name is None or definition.name.value != operation_name
        ):
            continue
        for selection in definition.selection_set.selections:
            if isinstance(selection, FieldNode):
                return selection.name.value
    return "unknown"
