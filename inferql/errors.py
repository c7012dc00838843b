"""The domain error tree. Every error carries a stable code, the one that clients
see as ``extensions.code`` in a GraphQL error.

This is a leaf module: it imports nothing from the package, so every layer
(inference, jobs, backends, resolvers) may raise these.

* InferqlError                    INTERNAL
  + BadRequestError               BAD_REQUEST
  + BadUserInputError             BAD_USER_INPUT
    x PayloadTooLargeError        PAYLOAD_TOO_LARGE
  + PersistedQueryNotFoundError   PERSISTED_QUERY_NOT_FOUND
  + PersistedQueryNotSupportedError PERSISTED_QUERY_NOT_SUPPORTED
  + OperationNotAllowedError      OPERATION_NOT_ALLOWED
  + QueryTooComplexError          QUERY_TOO_COMPLEX
  + NotFoundError                 NOT_FOUND
    x ModelNotFoundError          MODEL_NOT_FOUND
  + ConflictError                 CONFLICT
  + DeadlineExceededError         DEADLINE_EXCEEDED
  + UnavailableError              UNAVAILABLE
  + OverloadedError               OVERLOADED
  + RateLimitedError              RATE_LIMITED
  + UnauthenticatedError          UNAUTHENTICATED
  + ForbiddenError                FORBIDDEN
  + IdempotencyKeyInUseError      IDEMPOTENCY_KEY_IN_USE
  + IdempotencyKeyMismatchError   IDEMPOTENCY_KEY_MISMATCH

Errors that say when to come back carry ``retry_after`` (seconds).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Every value of ``extensions.code``. The README lists them; keep both in step."""

    BAD_REQUEST = "BAD_REQUEST"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    OVERLOADED = "OVERLOADED"
    UNAVAILABLE = "UNAVAILABLE"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    IDEMPOTENCY_KEY_IN_USE = "IDEMPOTENCY_KEY_IN_USE"
    IDEMPOTENCY_KEY_MISMATCH = "IDEMPOTENCY_KEY_MISMATCH"
    MODEL_NOT_FOUND = "MODEL_NOT_FOUND"
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    PERSISTED_QUERY_NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
    OPERATION_NOT_ALLOWED = "OPERATION_NOT_ALLOWED"
    INTERNAL = "INTERNAL"


class InferqlError(Exception):
    """Base of every error the service raises on purpose.

    ``message`` is safe to show to a client; ``extensions`` adds fields to the
    GraphQL error's ``extensions`` next to ``code``.
    """

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, *, code: ErrorCode | None = None, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = extensions
        if code is not None:
            self.code = code


class BadRequestError(InferqlError):
    """The HTTP request is not a GraphQL request: bad JSON, no query, a wrong
    method, content type or media type."""

    code = ErrorCode.BAD_REQUEST


class BadUserInputError(InferqlError):
    code = ErrorCode.BAD_USER_INPUT


class PayloadTooLargeError(BadUserInputError):
    code = ErrorCode.PAYLOAD_TOO_LARGE


class NotFoundError(InferqlError):
    code = ErrorCode.NOT_FOUND


class ModelNotFoundError(NotFoundError):
    code = ErrorCode.MODEL_NOT_FOUND


class ConflictError(InferqlError):
    code = ErrorCode.CONFLICT


class DeadlineExceededError(InferqlError):
    code = ErrorCode.DEADLINE_EXCEEDED


class UnavailableError(InferqlError):
    code = ErrorCode.UNAVAILABLE


class OverloadedError(InferqlError):
    code = ErrorCode.OVERLOADED

    def __init__(
        self, message: str, *, retry_after: float | None = None, **extensions: Any
    ) -> None:
        super().__init__(message, **extensions)
        self.retry_after = retry_after


class RateLimitedError(InferqlError):
    """The caller sent more texts than its rate limit allows; ``retry_after`` says
    when enough of the limit is back."""

    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: float, **extensions: Any) -> None:
        super().__init__(message, **extensions)
        self.retry_after = retry_after


class UnauthenticatedError(InferqlError):
    code = ErrorCode.UNAUTHENTICATED


class ForbiddenError(InferqlError):
    code = ErrorCode.FORBIDDEN


class IdempotencyKeyInUseError(InferqlError):
    code = ErrorCode.IDEMPOTENCY_KEY_IN_USE


class IdempotencyKeyMismatchError(InferqlError):
    code = ErrorCode.IDEMPOTENCY_KEY_MISMATCH


class PersistedQueryNotFoundError(InferqlError):
    """An automatic persisted query's hash is unknown: send the query with it."""

    code = ErrorCode.PERSISTED_QUERY_NOT_FOUND


class PersistedQueryNotSupportedError(InferqlError):
    """Automatic persisted queries are switched off."""

    code = ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED


class OperationNotAllowedError(InferqlError):
    """The allow-list is on and the operation is not on it."""

    code = ErrorCode.OPERATION_NOT_ALLOWED


class QueryTooComplexError(InferqlError):
    """The document is over a limit: here its size in bytes (graphql-core's parser
    and the validation rules report the token, depth and alias limits)."""

    code = ErrorCode.QUERY_TOO_COMPLEX
