"""The GraphQL schema: types, the root types from ``resolvers``, and extensions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.name_converter import NameConverter
from strawberry.types import ExecutionContext

from inferql.observability import metrics
from inferql.persisted import PersistedQueries
from inferql.resolvers.mutation import Mutation
from inferql.resolvers.query import Query
from inferql.resolvers.subscription import Subscription
from inferql.schema.admission import OperationShapes
from inferql.schema.documents import Documents
from inferql.schema.errors import apply_error_code
from inferql.schema.execution import OperationExecutor
from inferql.schema.extensions import tracing_extension
from inferql.schema.limits import strip_suggestions, validation_rules
from inferql.schema.operation import OperationExtension, OperationRunner
from inferql.settings import Settings

logger = logging.getLogger(__name__)


class InferqlSchema(strawberry.Schema):
    """The schema, with what its one extension (``inferql.schema.operation``)
    needs: the document caches, the operation shapes and persisted queries."""

    def __init__(
        self, settings: Settings, persisted: PersistedQueries | None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.persisted = persisted
        self.documents = Documents(
            self._schema,
            max_tokens=settings.max_query_tokens,
            max_bytes=settings.max_query_bytes,
            rules=validation_rules(settings),
        )
        self.shapes = OperationShapes(self._schema, self.documents.parse, self.documents.cacheable)

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        if len(extensions) == 1 and isinstance(extensions[0], OperationExtension):
            return OperationRunner(execution_context, extensions[0])
        return super().create_extensions_runner(execution_context, extensions)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if self.config.disable_field_suggestions:
                strip_suggestions(error)
            apply_error_code(error, execution_context)
            code = str((error.extensions or {}).get("code", ""))
            metrics.child(metrics.GRAPHQL_ERRORS, code).inc()
            logger.debug("graphql error %s: %s", error.extensions, error.message)


class KeptNames(NameConverter):
    """Strawberry's names (snake_case to camelCase), each converted once: it
    converts every argument's name again on every operation (~14 us each)."""

    def __init__(self) -> None:
        super().__init__()
        self._names: dict[str, str] = {}

    def apply_naming_config(self, name: str) -> str:
        converted = self._names.get(name)
        if converted is None:
            converted = self._names[name] = super().apply_naming_config(name)
        return converted


def build_schema(
    settings: Settings | None = None, persisted: PersistedQueries | None = None
) -> strawberry.Schema:
    """The schema with the limits of ``settings`` (the defaults when None) and,
    when given, persisted queries; with tracing on, OpenTelemetry spans for every
    operation and resolver."""
    settings = settings if settings is not None else Settings.model_validate({})
    # A fresh extension per operation, entered in list order: the trace span
    # sees everything after it.
    extensions: list[Callable[[], SchemaExtension]] = [
        *([tracing_extension()] if settings.tracing != "off" else []),
        OperationExtension,
    ]
    return InferqlSchema(
        settings,
        persisted,
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        execution_context_class=OperationExecutor,
        config=StrawberryConfig(
            disable_field_suggestions=not settings.field_suggestions, name_converter=KeptNames()
        ),
    )


def export_sdl() -> str:
    """The schema in SDL, as ``schema.graphql`` holds it."""
    return build_schema().as_str() + "\n"
