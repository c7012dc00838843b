"""What a GraphQL request's body may be: no larger than ``max_body_bytes``,
however it is sent, and one operation whose fields have the types the
GraphQL-over-HTTP specification gives them."""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException
from starlette.types import Message, Receive
from strawberry.http import GraphQLRequestData

from inferql.errors import PayloadTooLargeError


def request_data(data: dict[str, Any]) -> GraphQLRequestData:
    """One operation's fields, type-checked as strawberry's ``parse_http_body``
    checks them, with its messages."""
    query = data.get("query")
    if not isinstance(query, str | None):
        raise HTTPException(
            400, "The GraphQL operation's `query` must be a string or null, if provided."
        )
    variables = data.get("variables")
    if not isinstance(variables, dict | None):
        raise HTTPException(
            400, "The GraphQL operation's `variables` must be an object or null, if provided."
        )
    extensions = data.get("extensions")
    if not isinstance(extensions, dict | None):
        raise HTTPException(
            400, "The GraphQL operation's `extensions` must be an object or null, if provided."
        )
    return GraphQLRequestData(
        query=query,
        variables=variables,
        operation_name=data.get("operationName"),
        extensions=extensions,
    )


def too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"The request body is larger than {limit} bytes.", limit=limit)


def limit_body(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises PayloadTooLargeError once the body passes ``limit``
    bytes, however it is sent (a chunked body has no Content-Length)."""
    received = 0

    async def limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise too_large(limit)
        return message

    return limited
