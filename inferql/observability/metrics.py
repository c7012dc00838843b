"""Prometheus metrics: what ``/metrics`` serves.

Every metric is created once here, at import, in prometheus-client's default
registry. A process that serves several workers (gunicorn, ``uvicorn
--workers``) sets prometheus-client's own ``PROMETHEUS_MULTIPROC_DIR`` to an
empty directory before it starts: each process then writes its samples there,
and :func:`render` adds up the files of all of them (gauges declare how).

Imports nothing of strawberry or starlette, so the worker records its batches
without the web stack.
"""

from __future__ import annotations

import threading
from typing import TypeVar, cast
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.metrics import MetricWrapperBase

# Latencies from a cache hit (sub-millisecond) to a long job (minutes).
_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_FILL_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

GRAPHQL_OPERATIONS = Counter(
    "inferql_graphql_operations_total",
    "GraphQL operations by type, name and outcome (ok: no error; error: at least one).",
    ["operation_type", "operation_name", "outcome"],
)
GRAPHQL_OPERATION_DURATION = Histogram(
    "inferql_graphql_operation_duration_seconds",
    "Time to answer a query or mutation, from parsing to the result.",
    ["operation_type", "operation_name"],
    buckets=_LATENCY_BUCKETS,
)
GRAPHQL_ERRORS = Counter(
    "inferql_graphql_errors_total", "GraphQL errors sent, by extensions.code.", ["code"]
)
JOBS_SUBMITTED = Counter(
    "inferql_jobs_submitted_total", "Jobs created, by model (name@version).", ["model"]
)
JOBS_FINISHED = Counter(
    "inferql_jobs_finished_total",
    "Jobs that reached a terminal status, by model and status.",
    ["model", "status"],
)
JOB_DURATION = Histogram(
    "inferql_job_duration_seconds",
    "Time from a job's submission to its terminal event, by model and status.",
    ["model", "status"],
    buckets=_LATENCY_BUCKETS,
)
QUEUE_DEPTH = Gauge(
    "inferql_queue_depth",
    "Jobs waiting for a worker (read from the backend at each scrape).",
    multiprocess_mode="mostrecent",
)
WORKERS_ALIVE = Gauge(
    "inferql_workers_alive",
    "Workers serving the queue (read from the backend at each scrape).",
    multiprocess_mode="mostrecent",
)
BATCH_SIZE = Histogram(
    "inferql_batch_size_texts",
    "Texts per model call, by model.",
    ["model"],
    buckets=_BATCH_BUCKETS,
)
BATCH_FILL = Histogram(
    "inferql_batch_fill_ratio",
    "Texts per model call divided by INFERQL_MAX_BATCH_TEXTS, by model.",
    ["model"],
    buckets=_FILL_BUCKETS,
)
MODEL_CALL_DURATION = Histogram(
    "inferql_model_call_duration_seconds",
    "Time of one model call (one batch), by model and outcome.",
    ["model", "outcome"],
    buckets=_LATENCY_BUCKETS,
)
CACHE_LOOKUPS = Counter(
    "inferql_cache_lookups_total",
    "Texts looked up in the inference cache, by result (hit or miss).",
    ["result"],
)
WEBSOCKET_CONNECTIONS = Gauge(
    "inferql_websocket_connections",
    "Open websocket connections.",
    multiprocess_mode="livesum",
)
ACTIVE_SUBSCRIPTIONS = Gauge(
    "inferql_active_subscriptions",
    "GraphQL subscriptions running, by field.",
    ["field"],
    multiprocess_mode="livesum",
)
RATE_LIMITED = Counter(
    "inferql_rate_limited_total",
    "Requests refused by a rate limit, by the limit that refused them.",
    ["limit"],
)


M = TypeVar("M", bound=MetricWrapperBase)
_children: dict[tuple[MetricWrapperBase, tuple[str, ...]], MetricWrapperBase] = {}


def child(metric: M, *values: str) -> M:
    """``metric.labels(*values)`` (values in the order of its label names), looked
    up once: ``labels()`` checks its arguments and takes a lock on every call
    (~4 us, half a dozen times a request), and the values a process sees are few
    (models, statuses, codes, bounded operation names)."""
    key = (metric, values)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*values)
    return cast(M, found)


class BoundedLabel:
    """The values of a label that clients choose: each passes through until
    ``limit`` distinct ones have been seen, later ones become "other", so no
    client can grow the label set without bound."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        with self._lock:
            if value in self._seen:
                return value
            if len(self._seen) < self._limit:
                self._seen.add(value)
                return value
        return "other"


MAX_OPERATION_NAMES = 200
_operation_names = BoundedLabel(MAX_OPERATION_NAMES)


def operation_label(name: str | None) -> str:
    """The ``operation_name`` label for ``name``: itself, "anonymous" or "other"."""
    return _operation_names(name) if name else "anonymous"


def record_rate_limited(limit: str) -> None:
    """Count one request refused by the rate limit named ``limit``."""
    child(RATE_LIMITED, limit).inc()


def render() -> tuple[bytes, str]:
    """The exposition of every metric (of every process in multiprocess mode),
    and its content type."""
    return generate_latest(_registry()), CONTENT_TYPE_LATEST


def serve_metrics(port: int, host: str) -> WSGIServer:
    """Serve the metrics over HTTP from a daemon thread, for a process without a web
    server of its own (``inferql worker``). ``shutdown()`` the result to stop."""
    server, _ = start_http_server(port, addr=host, registry=_registry())
    return server


def _registry() -> CollectorRegistry:
    # prometheus-client reads PROMETHEUS_MULTIPROC_DIR itself (it must be set
    # before the first metric exists, so before any setting could be read); the
    # collector raises ValueError when it is not set.
    registry = CollectorRegistry()
    try:
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    except ValueError:
        return REGISTRY
    return registry
