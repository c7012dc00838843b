"""Observing every operation: Prometheus metrics and the operation fields of
the request's log line (called by ``inferql.schema.operation``), and, when
tracing is on, strawberry's OpenTelemetry extension for the spans of the
operation and of each resolver."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from inferql.observability import metrics
from inferql.observability.logging import note_operation

# Resolver arguments that hold the texts people send: kept out of span attributes.
_PRIVATE_ARGUMENTS = frozenset({"text", "texts", "input"})


def subscription_started(context: ExecutionContext, root_fields: Sequence[str]) -> str | None:
    """Count a subscription that starts executing; its root field (a subscription
    selects exactly one), or None for a query or a mutation."""
    if context.operation_type is not OperationType.SUBSCRIPTION:
        return None
    field = root_fields[0] if root_fields else "unknown"
    metrics.child(metrics.ACTIVE_SUBSCRIPTIONS, field).inc()
    return field


def record_operation(
    context: ExecutionContext, elapsed: float, *, refused: bool, subscription: str | None
) -> None:
    """Count an operation that ended (by type, name and outcome), time it if it
    is a query or a mutation, and note it for the request's log line.
    ``refused``: it raised before executing (a persisted query or admission
    refusal), which leaves no errors in ``context``."""
    try:
        operation_type = context.operation_type.value
    except RuntimeError:  # the document did not parse
        operation_type = "unknown"
    result = context.result
    failed = (
        refused or bool(context.pre_execution_errors) or bool(result is not None and result.errors)
    )
    name = metrics.operation_label(context.operation_name)
    outcome = "error" if failed else "ok"
    metrics.child(metrics.GRAPHQL_OPERATIONS, operation_type, name, outcome).inc()
    if operation_type in ("query", "mutation"):
        metrics.child(metrics.GRAPHQL_OPERATION_DURATION, operation_type, name).observe(elapsed)
    note_operation(operation_type, context.operation_name)
    if subscription is not None:
        metrics.child(metrics.ACTIVE_SUBSCRIPTIONS, subscription).dec()


def tracing_extension() -> Callable[[], SchemaExtension]:
    """A factory of strawberry's OpenTelemetry extension that leaves texts out of
    resolver span attributes. Needs the ``otel`` extra."""
    from strawberry.extensions.tracing import OpenTelemetryExtension

    def without_texts(args: dict[str, Any], info: Any) -> dict[str, Any]:
        return {key: value for key, value in args.items() if key not in _PRIVATE_ARGUMENTS}

    return lambda: OpenTelemetryExtension(arg_filter=without_texts)
