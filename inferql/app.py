"""create_app(settings) -> Starlette: the only module that wires the parts.

Routes: /graphql (queries and mutations over HTTP, subscriptions over
graphql-transport-ws, GraphiQL in a browser), /healthz, /readyz, /metrics
(Prometheus) and /dashboard (the live page, built from dashboard/).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from inferql.backends import Backend, create_backend
from inferql.errors import InferqlError
from inferql.heap import freeze_startup_objects, unfreeze_objects
from inferql.http.cors import cors_middleware
from inferql.http.view import GraphQLView
from inferql.inference import ModelProvider
from inferql.inference.catalog import Catalog
from inferql.jobs.service import JobService
from inferql.jobs.webhook_dispatcher import WebhookDispatcher
from inferql.jobs.worker import Worker
from inferql.observability import metrics
from inferql.observability.middleware import RequestMiddleware
from inferql.observability.stats import StatsCollector
from inferql.observability.tracing import asgi_middleware, configure_tracing
from inferql.persisted import PersistedQueries
from inferql.resolvers.context import Services
from inferql.schema import build_schema
from inferql.security.guard import Guard
from inferql.settings import Settings

logger = logging.getLogger(__name__)

# How long shutdown waits for the in-process worker to finish the jobs it took.
_DRAIN_TIMEOUT_S = 30.0
# The dashboard's built files (`make install` builds them from dashboard/).
DASHBOARD_DIR = Path(__file__).resolve().parent / "static" / "dashboard"


@dataclass
class Runtime:
    """What the app holds while it runs; ``app.state.runtime``."""

    services: Services
    backend: Backend
    models: ModelProvider | None
    stats: StatsCollector
    model_ready: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    worker: asyncio.Task[None] | None = None  # the in-process worker's loop


def create_app(
    settings: Settings,
    *,
    models: ModelProvider | None = None,
    catalog: Catalog | None = None,
) -> Starlette:
    """Build the application. ``models`` replaces the model registry (tests use a
    small counting model to observe batching); it is only used when the settings
    run a worker in this process."""
    configure_tracing(settings)
    catalog = catalog if catalog is not None else Catalog.load(settings.classifiers_path)
    backend = create_backend(settings)
    stats = StatsCollector(backend, window_s=settings.stats_window_s)
    jobs = JobService(backend, catalog, settings)
    services = Services(
        settings=settings,
        catalog=catalog,
        jobs=jobs,
        guard=Guard(settings, backend, jobs.idempotency),
        stats=stats,
    )
    if settings.runs_worker and models is None:
        from inferql.inference.registry import ModelRegistry, configured_factory

        models = ModelRegistry(catalog, encoder_factory=configured_factory(settings))
    runtime = Runtime(
        services=services,
        backend=backend,
        models=models if settings.runs_worker else None,
        stats=stats,
    )

    if not settings.runs_worker and settings.redis_url is None:
        logger.warning(
            "no worker runs in this process and the memory backend shares its queue with "
            "no other: jobs will wait until their deadline"
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        worker = None
        stats_task = asyncio.create_task(stats.run(), name="inferql-stats")
        dispatcher = None
        if runtime.models is not None:
            worker = Worker(backend, runtime.models, settings)
            dispatcher = WebhookDispatcher(backend, settings)
            runtime.worker = asyncio.create_task(worker.run(), name="inferql-worker")
            runtime.worker.add_done_callback(_worker_ended)
            runtime.tasks.append(runtime.worker)
            runtime.tasks.append(asyncio.create_task(dispatcher.run(), name="inferql-webhooks"))
            runtime.tasks.append(asyncio.create_task(_warm_up(runtime), name="inferql-warm-up"))
        else:
            freeze_startup_objects()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            stats_task.cancel()
            if dispatcher is not None:
                dispatcher.stop()
            if runtime.tasks:
                _, pending = await asyncio.wait(runtime.tasks, timeout=_DRAIN_TIMEOUT_S)
                for task in pending:
                    task.cancel()
            await backend.close()
            unfreeze_objects()

    persisted = PersistedQueries.from_settings(backend.persisted_queries, settings)
    graphql = GraphQLView(build_schema(settings, persisted), services)
    app = Starlette(
        routes=[
            Route("/", lambda _: RedirectResponse("/graphql")),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
            Route("/dashboard", lambda _: RedirectResponse("/dashboard/")),
            Mount("/dashboard", dashboard_files()),
        ],
        middleware=[*_middleware(settings), *cors_middleware(settings)],
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for serving the app as ``settings`` ask (beside the app,
    its address and logging)."""
    return {
        "ssl_certfile": settings.ssl_certfile,
        "ssl_keyfile": settings.ssl_keyfile,
        # A websocket message is bounded like a request body.
        "ws_max_size": settings.max_body_bytes,
        "ws_per_message_deflate": settings.ws_compression,
    }


def _worker_ended(task: asyncio.Task[None]) -> None:
    """Log a worker loop that died (``/readyz`` then says so): no job it would
    have run runs in this process any more."""
    if not task.cancelled() and (error := task.exception()) is not None:
        logger.error("the worker stopped: %r; jobs wait for another worker", error, exc_info=error)


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
    freeze_startup_objects()
    runtime.model_ready = True
    logger.info("model %s loaded; ready", ref)


def _middleware(settings: Settings) -> list[Middleware]:
    """Outermost first: the trace span, then the request id and log line (CORS
    comes inside them, so preflights are logged too)."""
    middleware = [Middleware(RequestMiddleware)]
    if settings.tracing != "off":
        middleware.insert(0, Middleware(asgi_middleware))
    return middleware


def dashboard_files() -> ASGIApp:
    """The built dashboard, or a page that says how to build it."""
    if (DASHBOARD_DIR / "index.html").is_file():
        return StaticFiles(directory=DASHBOARD_DIR, html=True)

    # A response is itself an ASGI app, answering every path below /dashboard/.
    return PlainTextResponse(
        "The dashboard is not built: run `make install` (it needs npm).", status_code=404
    )


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus metrics; the queue's depth and live workers are read now."""
    runtime: Runtime = request.app.state.runtime
    try:
        metrics.QUEUE_DEPTH.set(await runtime.backend.queue.depth())
        metrics.WORKERS_ALIVE.set(await runtime.backend.queue.workers_alive())
    except InferqlError as error:
        logger.warning("metrics: the backend did not answer: %s", error.message)
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)


async def healthz(request: Request) -> JSONResponse:
    """The process is alive."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """The backend answers and, where this process runs a worker, its model is
    loaded and its loop runs."""
    runtime: Runtime = request.app.state.runtime
    checks: dict[str, str] = {}
    try:
        await runtime.backend.ping()
        checks["backend"] = "ok"
    except InferqlError as error:
        checks["backend"] = error.message
    if runtime.models is not None:
        checks["model"] = "loaded" if runtime.model_ready else "loading"
    if runtime.worker is not None:
        checks["worker"] = "stopped" if runtime.worker.done() else "running"
    ready = (
        checks["backend"] == "ok"
        and checks.get("model", "loaded") == "loaded"
        and checks.get("worker", "running") == "running"
    )
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )
