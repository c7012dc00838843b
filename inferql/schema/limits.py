"""The schema's guards against hostile documents, built from the settings with
strawberry's own extensions: a token limit on parsing, depth and alias limits
(QUERY_TOO_COMPLEX), introspection switched off, and persisted queries (APQ and
the allow-list; their logic lives in ``inferql.persisted``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

from graphql import ASTValidationRule, GraphQLError, ValidationContext
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from inferql.errors import ErrorCode, OperationNotAllowedError
from inferql.persisted import PersistedQueries, Resolved
from inferql.settings import Settings

ExtensionFactory = Callable[[], SchemaExtension]


def guard_extensions(settings: Settings) -> list[ExtensionFactory]:
    """Factories of the limits the settings ask for."""
    # The rule classes are built once: the validation cache keys on them.
    rules: list[type[ASTValidationRule]] = [
        *map(_too_complex, QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules),
        *map(
            _too_complex,
            MaxAliasesLimiter(max_alias_count=settings.max_query_aliases).validation_rules,
        ),
    ]
    if not settings.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return [
        lambda: MaxTokensLimiter(max_token_count=settings.max_query_tokens),
        lambda: AddValidationRules(rules),
    ]


def _too_complex(rule: type[ASTValidationRule]) -> type[ASTValidationRule]:
    """``rule`` with QUERY_TOO_COMPLEX on every error it reports. Strawberry's
    depth and alias rules report from their constructor, through the context."""

    class TooComplex(rule):  # type: ignore[valid-type,misc]
        def __init__(self, context: ValidationContext) -> None:
            report = context.on_error

            def coded(error: GraphQLError) -> None:
                error.extensions = {
                    **(error.extensions or {}),
                    "code": ErrorCode.QUERY_TOO_COMPLEX.value,
                }
                report(error)

            context.on_error = coded  # type: ignore[method-assign]
            try:
                super().__init__(context)
            finally:
                context.on_error = report  # type: ignore[method-assign]

    TooComplex.__name__ = TooComplex.__qualname__ = f"TooComplex{rule.__name__}"
    return TooComplex


class PersistedQueryExtension(SchemaExtension):
    """Runs the document a persisted query names, and only allow-listed ones.

    A refusal found while resolving a hash (HTTP only: websockets carry no
    ``extensions``) is raised, which strawberry turns into a pre-execution error.
    A full document that is not allowed gets its error in place of validation's,
    so websocket clients receive it too. That is why this extension must come
    LAST in the schema's list: hooks are entered in list order, and the
    validation cache, entered earlier, would otherwise overwrite the error.
    """

    def __init__(self, persisted: PersistedQueries) -> None:
        super().__init__()
        self._persisted = persisted
        self._resolved = Resolved(None)

    async def on_operation(self) -> AsyncIterator[None]:
        context = self.execution_context
        self._resolved = await self._persisted.resolve(context.query, context.operation_extensions)
        context.query = self._resolved.document
        yield

    def on_validate(self) -> Iterator[None]:
        query = self.execution_context.query
        if query is not None and not self._persisted.permits(query):
            refused = OperationNotAllowedError(
                "This operation is not on the allow-list of registered operations."
            )
            error = GraphQLError(refused.message, original_error=refused)
            self.execution_context.pre_execution_errors = [error]
        yield

    async def on_execute(self) -> AsyncIterator[None]:
        # Reached only by a document that validated: now it is worth storing.
        await self._persisted.remember(self._resolved)
        yield


def strip_suggestions(error: GraphQLError) -> None:
    """Drop graphql-core's "Did you mean ...?" hints, which reveal the schema."""
    message, hint, _ = error.message.partition(" Did you mean")
    if hint:
        error.message = message
