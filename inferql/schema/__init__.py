"""The GraphQL schema: types, the root types from ``resolvers``, and extensions."""

from __future__ import annotations

import logging

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from inferql.observability import metrics
from inferql.persisted import PersistedQueries
from inferql.resolvers.mutation import Mutation
from inferql.resolvers.query import Query
from inferql.resolvers.subscription import Subscription
from inferql.schema.admission import AdmissionExtension
from inferql.schema.errors import apply_error_code
from inferql.schema.extensions import OperationMetrics, tracing_extension
from inferql.schema.limits import (
    ExtensionFactory,
    PersistedQueryExtension,
    guard_extensions,
    strip_suggestions,
)
from inferql.settings import Settings

logger = logging.getLogger(__name__)


class InferqlSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if self.config.disable_field_suggestions:
                strip_suggestions(error)
            apply_error_code(error, execution_context)
            metrics.GRAPHQL_ERRORS.labels(code=(error.extensions or {}).get("code", "")).inc()
            logger.debug("graphql error %s: %s", error.extensions, error.message)


def build_schema(
    settings: Settings | None = None, persisted: PersistedQueries | None = None
) -> strawberry.Schema:
    """The schema with the limits of ``settings`` (the defaults when None) and,
    when given, persisted queries; with tracing on, OpenTelemetry spans for every
    operation and resolver."""
    settings = settings if settings is not None else Settings.model_validate({})
    # Factories: a fresh extension per request; the parse and validation LRU
    # caches behind them are shared module-wide by maxsize. Hooks are entered in
    # list order: the trace span and the metrics see everything after them.
    extensions: list[ExtensionFactory] = [
        *([tracing_extension()] if settings.tracing != "off" else []),
        OperationMetrics,
        *guard_extensions(settings),
        lambda: ParserCache(maxsize=1024),
        lambda: ValidationCache(maxsize=1024),
        AdmissionExtension,
    ]
    if persisted is not None:
        extensions.append(lambda: PersistedQueryExtension(persisted))  # last: see its doc
    return InferqlSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=not settings.field_suggestions),
    )


def export_sdl() -> str:
    """The schema in SDL, as ``schema.graphql`` holds it."""
    return build_schema().as_str() + "\n"
