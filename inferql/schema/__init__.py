"""The GraphQL schema: types, the root types from ``resolvers``, and extensions."""

from __future__ import annotations

import logging

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types import ExecutionContext

from inferql.resolvers.mutation import Mutation
from inferql.resolvers.query import Query
from inferql.resolvers.subscription import Subscription
from inferql.schema.admission import AdmissionExtension
from inferql.schema.errors import apply_error_code

logger = logging.getLogger(__name__)


class InferqlSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            apply_error_code(error, execution_context)
            logger.debug("graphql error %s: %s", error.extensions, error.message)


def build_schema() -> strawberry.Schema:
    return InferqlSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        # Factories: a fresh extension per request; the parse and validation LRU
        # caches behind them are shared module-wide by maxsize.
        extensions=[
            lambda: ParserCache(maxsize=1024),
            lambda: ValidationCache(maxsize=1024),
            AdmissionExtension,
        ],
    )


def export_sdl() -> str:
    """The schema in SDL, as ``schema.graphql`` holds it."""
    return build_schema().as_str() + "\n"
