"""The GraphQL schema: types, the root types from ``resolvers``, and extensions."""

from __future__ import annotations

import logging
from collections.abc import Callable

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.types import ExecutionContext

from inferql.observability import metrics
from inferql.resolvers.mutation import Mutation
from inferql.resolvers.query import Query
from inferql.resolvers.subscription import Subscription
from inferql.schema.errors import apply_error_code
from inferql.schema.extensions import OperationMetrics, tracing_extension

logger = logging.getLogger(__name__)


class InferqlSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            apply_error_code(error, execution_context)
            metrics.GRAPHQL_ERRORS.labels(code=(error.extensions or {}).get("code", "")).inc()
            logger.debug("graphql error %s: %s", error.extensions, error.message)


def build_schema(*, tracing: bool = False) -> strawberry.Schema:
    """The schema; with ``tracing``, OpenTelemetry spans for every operation and
    resolver (needs the ``otel`` extra)."""
    # Factories: a fresh extension per request; the parse and validation LRU
    # caches behind them are shared module-wide by maxsize.
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        lambda: ParserCache(maxsize=1024),
        lambda: ValidationCache(maxsize=1024),
        OperationMetrics,
    ]
    if tracing:
        extensions.append(tracing_extension())
    return InferqlSchema(
        query=Query, mutation=Mutation, subscription=Subscription, extensions=extensions
    )


def export_sdl() -> str:
    """The schema in SDL, as ``schema.graphql`` holds it."""
    return build_schema().as_str() + "\n"
