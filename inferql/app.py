"""create_app(settings) -> Starlette: the only module that wires the parts.

Routes: /graphql (queries and mutations over HTTP, subscriptions over
graphql-transport-ws, GraphiQL in a browser), /healthz, /readyz.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UNSET, UnsetType

from inferql.backends import Backend, create_backend
from inferql.errors import InferqlError
from inferql.inference import ModelProvider
from inferql.inference.catalog import Catalog
from inferql.jobs.service import JobService
from inferql.jobs.webhooks import WebhookDispatcher
from inferql.jobs.worker import Worker
from inferql.resolvers.context import Context, Services
from inferql.schema import build_schema
from inferql.security.guard import Guard, HttpOutcome, RequestSecurity
from inferql.settings import Settings

logger = logging.getLogger(__name__)

# How long shutdown waits for the in-process worker to finish the jobs it took.
_DRAIN_TIMEOUT_S = 30.0


class InferqlGraphQL(GraphQL[Context, None]):
    def __init__(self, services: Services) -> None:
        super().__init__(
            build_schema(),
            graphql_ide="graphiql" if services.settings.graphiql else None,
        )
        self.services = services

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
        """Run one HTTP operation under the guard (credentials, idempotency key,
        refusal statuses and headers)."""

        def set_response(outcome: HttpOutcome) -> None:
            if outcome.status is not None:
                sub_response.status_code = outcome.status
            sub_response.headers.update(outcome.headers)

        return await self.services.guard.run_http(
            context.security,
            request.headers,
            request_adapter.method,
            request_data,
            lambda: super(InferqlGraphQL, self).execute_operation(
                request, request_adapter, request_data, context, root_value, sub_response
            ),
            set_response,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate a websocket once, from its connection_init payload; a
        refused one is closed with 4403."""
        assert isinstance(context.request, WebSocket)
        if not await self.services.guard.connect_websocket(
            context.security, context.connection_params, context.request.headers
        ):
            raise ConnectionRejectionError()
        unset: UnsetType = UNSET
        return unset


@dataclass
class Runtime:
    """What the app holds while it runs; ``app.state.runtime``."""

    services: Services
    backend: Backend
    models: ModelProvider | None
    model_ready: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def create_app(
    settings: Settings,
    *,
    models: ModelProvider | None = None,
    catalog: Catalog | None = None,
) -> Starlette:
    """Build the application. ``models`` replaces the model registry (tests use a
    small counting model to observe batching); it is only used when the settings
    run a worker in this process."""
    catalog = catalog if catalog is not None else Catalog.load(settings.classifiers_path)
    backend = create_backend(settings)
    jobs = JobService(backend, catalog, settings)
    services = Services(
        settings=settings,
        catalog=catalog,
        jobs=jobs,
        guard=Guard(settings, backend, jobs.idempotency),
    )
    if settings.runs_worker and models is None:
        from inferql.inference.registry import ModelRegistry

        models = ModelRegistry(catalog, threads=settings.model_threads)
    runtime = Runtime(
        services=services, backend=backend, models=models if settings.runs_worker else None
    )

    if not settings.runs_worker and settings.redis_url is None:
        logger.warning(
            "no worker runs in this process and the memory backend shares its queue with "
            "no other: jobs will wait until their deadline"
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        worker = None
        dispatcher = None
        if runtime.models is not None:
            worker = Worker(backend, runtime.models, settings)
            dispatcher = WebhookDispatcher(backend, settings)
            runtime.tasks.append(asyncio.create_task(worker.run(), name="inferql-worker"))
            runtime.tasks.append(asyncio.create_task(dispatcher.run(), name="inferql-webhooks"))
            runtime.tasks.append(asyncio.create_task(_warm_up(runtime), name="inferql-warm-up"))
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            if dispatcher is not None:
                dispatcher.stop()
            if runtime.tasks:  # none in an API replica without a worker
                _, pending = await asyncio.wait(runtime.tasks, timeout=_DRAIN_TIMEOUT_S)
                for task in pending:
                    task.cancel()
            await backend.close()

    graphql = InferqlGraphQL(services)
    app = Starlette(
        routes=[
            Route("/", lambda _: RedirectResponse("/graphql")),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app


async def _warm_up(runtime: Runtime) -> None:
    """Load the default model before the first job needs it."""
    assert runtime.models is not None
    settings = runtime.services.settings
    ref = runtime.services.catalog.resolve(settings.default_model).ref
    try:
        await asyncio.to_thread(runtime.models.load, ref)
    except Exception:
        logger.exception("could not load the default model %s", ref)
        return
    runtime.model_ready = True
    logger.info("model %s loaded; ready", ref)


async def healthz(request: Request) -> JSONResponse:
    """The process is alive."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """The backend answers and, where this process runs a worker, its model is loaded."""
    runtime: Runtime = request.app.state.runtime
    checks: dict[str, str] = {}
    try:
        await runtime.backend.ping()
        checks["backend"] = "ok"
    except InferqlError as error:
        checks["backend"] = error.message
    if runtime.models is not None:
        checks["model"] = "loaded" if runtime.model_ready else "loading"
    ready = checks["backend"] == "ok" and checks.get("model", "loaded") == "loaded"
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )
