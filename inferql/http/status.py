"""The one place that turns error codes into HTTP statuses and headers.

Following the GraphQL-over-HTTP specification and DESIGN.md:

* Refusals decided before execution (credentials, rate limits, overload, body
  size, an idempotency key sent as a header, a request that is not GraphQL)
  answer with their own status whichever media type the response uses.
* GraphQL request errors (the document does not parse or validate, is too
  complex, names an unknown persisted query, is not allowed, or its variables
  do not coerce) answer 4xx with ``application/graphql-response+json`` and 200
  with legacy ``application/json``.
* Anything found during execution is a GraphQL error in a 200 response.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from inferql.errors import ErrorCode
from inferql.http.media import MediaType

REFUSAL_STATUS: Mapping[ErrorCode, int] = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.IDEMPOTENCY_KEY_IN_USE: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.IDEMPOTENCY_KEY_MISMATCH: 422,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL: 500,
    ErrorCode.OVERLOADED: 503,
    ErrorCode.UNAVAILABLE: 503,
}

# With application/graphql-response+json; every other request error is a 400.
REQUEST_ERROR_STATUS: Mapping[ErrorCode, int] = {
    ErrorCode.OPERATION_NOT_ALLOWED: 403,
    ErrorCode.PERSISTED_QUERY_NOT_FOUND: 404,
}

# Headers a refusal always carries. A persisted-query miss must not be cached
# by a CDN in front of GET requests, or the client's retry would hit it again.
CODE_HEADERS: Mapping[ErrorCode, Mapping[str, str]] = {
    ErrorCode.PERSISTED_QUERY_NOT_FOUND: {"Cache-Control": "private, no-cache, must-revalidate"},
    ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED: {
        "Cache-Control": "private, no-cache, must-revalidate"
    },
}


def request_error_status(codes: Iterable[str], media: MediaType) -> int:
    """The status of a response that carries only request errors (no data)."""
    known = [ErrorCode(code) for code in codes if code in ErrorCode.__members__]
    for code in known:
        if code in REFUSAL_STATUS:
            return REFUSAL_STATUS[code]
    if media is MediaType.JSON:
        return 200
    for code in known:
        if code in REQUEST_ERROR_STATUS:
            return REQUEST_ERROR_STATUS[code]
    return 400


def code_headers(codes: Iterable[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for code in codes:
        if code in ErrorCode.__members__:
            headers.update(CODE_HEADERS.get(ErrorCode(code), {}))
    return headers
