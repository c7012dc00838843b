"""The schema's validation rules against hostile documents, built from the
settings with strawberry's own rules: depth and alias limits
(QUERY_TOO_COMPLEX) and introspection switched off. The token limit on parsing
is ``inferql.schema.documents``'s."""

from __future__ import annotations

from graphql import ASTValidationRule, GraphQLError, ValidationContext
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter

from inferql.errors import ErrorCode
from inferql.settings import Settings


def validation_rules(settings: Settings) -> list[type[ASTValidationRule]]:
    """The validation rules the settings ask for, beside graphql-core's own."""
    rules: list[type[ASTValidationRule]] = [
        *map(_too_complex, QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules),
        *map(
            _too_complex,
            MaxAliasesLimiter(max_alias_count=settings.max_query_aliases).validation_rules,
        ),
    ]
    if not settings.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return rules


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


def strip_suggestions(error: GraphQLError) -> None:
    """Drop graphql-core's "Did you mean ...?" hints, which reveal the schema."""
    message, hint, _ = error.message.partition(" Did you mean")
    if hint:
        error.message = message
