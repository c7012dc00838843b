"""The GraphQL endpoint: strawberry's ASGI view, made to follow the
GraphQL-over-HTTP specification and to refuse hostile requests.

* The response media type is negotiated (``application/graphql-response+json``
  or legacy ``application/json``; 406 when the client accepts neither).
* Statuses come from ``inferql.http.status``, the one mapping from codes to
  statuses; a request error carries no ``data`` entry.
* Bodies larger than ``max_body_bytes`` are refused with 413 while they
  arrive; POST bodies other than UTF-8 JSON with 415; queries over GET, when
  switched off, and mutations over GET with 405.
* Every refusal is a GraphQL error body with ``extensions.code``; nothing
  unexpected leaks its text (INTERNAL, logged).

Extra response headers: anything that holds the request context (resolvers,
schema extensions, ``get_context``) may set ``context.response.headers[...]``;
they are sent with the response, refusals included. A domain error raised
before execution (in ``get_context`` or an extension) becomes a refusal with
the status its code maps to.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.base import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.unset import UNSET, UnsetType

from inferql.errors import BadRequestError, ErrorCode, InferqlError
from inferql.http.media import MediaType, is_json_body, negotiate
from inferql.http.messages import MessageEncoder
from inferql.http.request_body import limit_body, request_data, too_large
from inferql.http.shared_streams import SharedStreams
from inferql.http.status import code_headers, request_error_status
from inferql.http.websocket import PingingTransportWSHandler
from inferql.resolvers.context import Context, Services
from inferql.schema.errors import INTERNAL_MESSAGE
from inferql.security.guard import HttpOutcome, RequestSecurity

logger = logging.getLogger(__name__)


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = PingingTransportWSHandler

    def __init__(self, schema: BaseSchema, services: Services) -> None:
        settings = services.settings
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql else None,
            allow_queries_via_get=settings.queries_over_get,
            keep_alive=settings.ws_keep_alive_s > 0,
            keep_alive_interval=settings.ws_keep_alive_s,
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_s),
            # Websocket handshakes from other origins: refused (403) unless listed.
            allowed_origins=settings.cors_origins,
            # Not the legacy `graphql-ws` protocol: a client that offers only it
            # gets 4406, not a socket without pings, init timeout or shared streams.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        )
        self.services = services
        self.shared_streams = SharedStreams(
            schema, buffer=settings.subscriber_buffer, max_query_bytes=settings.max_query_bytes
        )
        self._encode_message = MessageEncoder()

    def encode_json(self, data: object) -> str:
        """Responses and websocket messages as compact JSON; a shared
        subscription's result is encoded once for all its sockets."""
        return self._encode_message(data)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return Context(
            services=self.services,
            request=request,
            response=response if isinstance(response, Response) else None,
            security=RequestSecurity(
                transport="websocket" if isinstance(request, WebSocket) else "http"
            ),
        )

    async def execute_operation(
        self,
        request: Request,
        request_adapter: Any,
        request_data: Any,
        context: Context,
        root_value: None,
        sub_response: Response,
    ) -> Any:
        """Run one operation under the security guard: credentials, the
        Idempotency-Key header, and the statuses and headers of its refusals."""

        def set_response(outcome: HttpOutcome) -> None:
            if outcome.status is not None:
                sub_response.status_code = outcome.status
            sub_response.headers.update(outcome.headers)

        return await self.services.guard.run_http(
            context.security,
            request.headers,
            request_adapter.method,
            request_data,
            lambda: super(GraphQLView, self).execute_operation(
                request, request_adapter, request_data, context, root_value, sub_response
            ),
            set_response,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate a websocket from its connection_init payload; a refused
        one is closed with 4403. The credential is kept and checked again for
        each operation and while the socket is open (the handler's watcher)."""
        assert isinstance(context.request, WebSocket)
        if not await self.services.guard.connect_websocket(
            context.security, context.connection_params, context.request.headers
        ):
            raise ConnectionRejectionError()
        unset: UnsetType = UNSET
        return unset

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive=limit_body(receive, self.services.settings.max_body_bytes))
        response = await self._respond(request)
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> Response:
        if self.should_render_graphql_ide(self.request_adapter_class(request)):
            return await self._run(request, MediaType.JSON)
        media = negotiate(request.headers.get("accept"))
        if media is None:
            return self._refusal(
                request,
                BadRequestError("Accept application/graphql-response+json or application/json."),
                MediaType.JSON,
                status=406,
            )
        if request.method == "POST" and not is_json_body(request.headers.get("content-type")):
            error = BadRequestError("Send the request as application/json (UTF-8).")
            return self._refusal(request, error, media, status=415)
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.services.settings.max_body_bytes:
            return self._refusal(request, too_large(self.services.settings.max_body_bytes), media)
        return await self._run(request, media)

    async def _run(self, request: Request, media: MediaType) -> Response:
        request.state.media = media
        try:
            if request.method == "POST":
                return await self._post(request)
            return await self.run(request)
        except InferqlError as error:
            return self._refusal(request, error, media)
        except UnicodeDecodeError:
            return self._refusal(request, BadRequestError("The body is not UTF-8 JSON."), media)
        except HTTPException as error:
            headers = {}
            status = error.status_code
            if isinstance(error.__cause__, InvalidOperationTypeError) and request.method == "GET":
                # Mutations never run over GET, nor queries when that is switched off.
                status, headers = 405, {"Allow": "POST"}
            if isinstance(error.__cause__, CannotGetOperationTypeError):
                # A GraphQL request error (no operation, or an unknown name), not an HTTP one.
                refused = InferqlError(error.reason, code=ErrorCode.GRAPHQL_VALIDATION_FAILED)
                return self._refusal(request, refused, media)
            return self._refusal(
                request, BadRequestError(error.reason), media, status=status, headers=headers
            )
        except Exception:
            logger.exception("unexpected error serving %s %s", request.method, request.url.path)
            return self._refusal(request, InferqlError(INTERNAL_MESSAGE), media)

    async def _post(self, request: Request) -> Response:
        """A POST of one operation, as strawberry's ``run`` serves it, less the
        steps such a request never needs: ``_respond`` has checked its media
        types (so no content-type parsing, no multipart form), this view offers
        no HTTP stream transports (so none to look up, and no streamed result to
        test for), and no IDE is rendered for a POST. A batch, or a body that is
        no object, goes to ``run`` for its refusal."""
        body = await request.body()
        if body.lstrip()[:1] != b"{":
            return await self.run(request)
        try:
            operation = request_data(json.loads(body))
        except json.JSONDecodeError as error:
            raise HTTPException(400, "Unable to parse request body as JSON") from error
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, response=sub_response)
        result = await self.execute_operation(
            request, self.request_adapter_class(request), operation, context, None, sub_response
        )
        return self.create_response(await self.process_result(request, result), sub_response)

    async def parse_http_body(self, request_adapter: Any) -> Any:
        # A JSON body that is no object (a string, a number, null) would reach
        # strawberry's `data.get(...)` and fail there. Starlette keeps the body
        # once read, so looking at its first byte costs nothing. (A list is a
        # batch, which strawberry refuses itself.)
        if request_adapter.method == "POST":
            body: bytes = await request_adapter.get_body()
            if body.lstrip()[:1] not in (b"{", b"["):
                raise HTTPException(400, 'The body must be a JSON object: {"query": ...}.')
        return await super().parse_http_body(request_adapter)

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET that names a persisted query has no `query` but is no browser.
        return bool(
            super().should_render_graphql_ide(request)
            and request.query_params.get("extensions") is None
        )

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = request.state.media
        request.state.sub_response = sub_response
        return sub_response

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        body = await super().process_result(request, result)
        if _is_request_error(result):
            # The request did not execute: no `data` entry, and the status of its codes.
            body.pop("data", None)
            codes = [str((e.extensions or {}).get("code")) for e in result.errors or ()]
            sub_response: Response = request.state.sub_response
            sub_response.status_code = request_error_status(codes, request.state.media)
            sub_response.headers.update(code_headers(codes))
        return body

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        media = sub_response.media_type or MediaType.JSON
        response.headers["content-type"] = f"{media}; charset=utf-8"
        return response

    def _refusal(
        self,
        request: Request,
        error: InferqlError,
        media: MediaType,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """A GraphQL error body for a request refused before it executed."""
        code = error.code.value
        body = {
            "errors": [{"message": error.message, "extensions": {**error.extensions, "code": code}}]
        }
        response = Response(
            self.encode_json(body),
            status_code=status or request_error_status([code], media),
            media_type=f"{media}; charset=utf-8",
        )
        sub_response: Response | None = getattr(request.state, "sub_response", None)
        if sub_response is not None:
            response.headers.update(
                {k: v for k, v in sub_response.headers.items() if k != "content-type"}
            )
        response.headers.update({**code_headers([code]), **(headers or {})})
        return response


def _is_request_error(result: ExecutionResult) -> bool:
    """No data and no error with a path: the request failed before any field ran
    (parse, validation, variables, a refusal raised by an extension)."""
    if isinstance(result, PreExecutionError):
        return True
    return (
        result.data is None and bool(result.errors) and all(not e.path for e in result.errors or ())
    )
