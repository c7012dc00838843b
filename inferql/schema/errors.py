"""Every GraphQL error leaves with a stable ``extensions.code``; this is the one
place that decides which. Domain errors keep their code and message; errors
graphql-core raises get the code of their stage; anything else is masked as
INTERNAL and logged with its traceback."""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError
from strawberry.types import ExecutionContext

from inferql.errors import ErrorCode, InferqlError

logger = logging.getLogger("inferql.errors")

INTERNAL_MESSAGE = "Internal server error."
NO_QUERY_MESSAGE = "No GraphQL query found in the request"


def apply_error_code(error: GraphQLError, context: ExecutionContext | None) -> None:
    """Give ``error`` its code in place (and mask it if it was unexpected)."""
    original = error.original_error
    extensions = dict(error.extensions or {})
    if isinstance(original, InferqlError):
        extensions.update(original.extensions)
        extensions["code"] = original.code.value
    elif isinstance(original, MissingQueryError):
        # No document, and no persisted query named one (over a websocket; over
        # HTTP the view answers it before executing, with the same message).
        error.message = NO_QUERY_MESSAGE
        extensions["code"] = ErrorCode.BAD_REQUEST.value
    elif isinstance(original, CannotGetOperationTypeError):
        # No operation of that name (or several and none named): the caller's
        # document, as over HTTP, where the view answers it before executing.
        extensions["code"] = ErrorCode.GRAPHQL_VALIDATION_FAILED.value
    elif original is not None and not isinstance(original, GraphQLError):
        logger.error(
            "unexpected error in operation %s at %s",
            context.operation_name if context else None,
            error.path,
            exc_info=original,
        )
        error.message = INTERNAL_MESSAGE
        extensions = {"code": ErrorCode.INTERNAL.value}
    elif "code" not in extensions:
        extensions["code"] = _stage_code(error, context).value
    error.extensions = extensions


def _stage_code(error: GraphQLError, context: ExecutionContext | None) -> ErrorCode:
    if error.message.endswith("Parsing aborted."):
        # The parser's token limit (settings.max_query_tokens) stopped it.
        return ErrorCode.QUERY_TOO_COMPLEX
    if error.message.startswith("Syntax Error"):
        return ErrorCode.GRAPHQL_PARSE_FAILED
    if error.message.startswith("Variable '$"):
        # The document is fine; the values sent with it are not.
        return ErrorCode.BAD_USER_INPUT
    if context is not None and error in (context.pre_execution_errors or ()):
        return ErrorCode.GRAPHQL_VALIDATION_FAILED
    # Raised by graphql-core while executing: variables that do not coerce, or an
    # argument value out of range, are the caller's input.
    return ErrorCode.BAD_USER_INPUT
