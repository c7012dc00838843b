"""OpenTelemetry traces, when the ``otel`` extra is installed and
``INFERQL_TRACING`` is not ``off``.

What makes spans:

- each HTTP request and websocket: OpenTelemetry's ASGI middleware, which
  continues a caller's W3C ``traceparent``;
- each GraphQL operation, its parsing and validation, and each resolver:
  strawberry's ``OpenTelemetryExtension`` (see ``inferql.schema``);
- each job in the worker: ``inferql.job``, a child of the span that submitted
  it. The job carries that span's ``traceparent`` across the queue, so the
  worker's spans join the request's trace, whichever process runs them;
- each model call: ``inferql.model_call``, a child of the first job of its
  batch, with a link to every job it served.

With tracing off nothing here imports opentelemetry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from inferql.jobs.model import Job, JobStatus
from inferql.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer

logger = logging.getLogger(__name__)

_MISSING = "INFERQL_TRACING needs the OpenTelemetry packages: pip install 'inferql[otel]'"


def configure_tracing(settings: Settings) -> None:
    """Install a tracer provider that exports as the settings say, unless the
    process has one already (set up by ``opentelemetry-instrument`` or by the
    program that embeds inferql): then spans go to that one. RuntimeError when
    tracing is on and the packages are missing."""
    if settings.tracing == "off":
        return
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SimpleSpanProcessor,
        )
    except ImportError as error:
        raise RuntimeError(_MISSING) from error
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    # The SDK reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES itself; name the
    # service only where they did not.
    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "inferql"}))
    provider = TracerProvider(resource=resource)
    if settings.tracing == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as error:
            raise RuntimeError(_MISSING) from error
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    logger.info("tracing on: spans go to %s", settings.tracing)


def asgi_middleware(app: Any) -> Any:
    """``app`` wrapped in OpenTelemetry's ASGI middleware: a server span per
    request, continuing the caller's ``traceparent`` (no span per message)."""
    try:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    except ImportError as error:
        raise RuntimeError(_MISSING) from error
    return OpenTelemetryMiddleware(app, exclude_spans=["receive", "send"])


class JobTracer:
    """The spans of the job path. Every method is a no-op when tracing is off."""

    def __init__(self, enabled: bool) -> None:
        self._tracer: Tracer | None = None
        self._spans: dict[str, Span] = {}
        if enabled:
            try:
                from opentelemetry import trace
            except ImportError as error:
                raise RuntimeError(_MISSING) from error
            self._tracer = trace.get_tracer("inferql")

    def trace_parent(self) -> str | None:
        """The W3C ``traceparent`` of the current span, to carry on a new job."""
        if self._tracer is None:
            return None
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        carrier: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(carrier)
        return carrier.get("traceparent")

    def start_job(self, job: Job) -> None:
        """Open the worker's span of ``job``, a child of the span that submitted it."""
        if self._tracer is None or job.id in self._spans:
            return
        from opentelemetry.trace import SpanKind

        self._spans[job.id] = self._tracer.start_span(
            "inferql.job",
            context=_extract(job.trace_parent),
            kind=SpanKind.CONSUMER,
            attributes={
                "inferql.job.id": job.id,
                "inferql.model": str(job.model),
                "inferql.job.texts": job.total,
            },
        )

    def end_job(self, job_id: str, status: JobStatus | None = None) -> None:
        """Close the span of a job this tracer opened, if any."""
        span = self._spans.pop(job_id, None)
        if span is None:
            return
        from opentelemetry.trace import StatusCode

        if status is not None:
            span.set_attribute("inferql.job.status", status.value)
        if status is JobStatus.FAILED:
            span.set_status(StatusCode.ERROR)
        span.end()

    @contextmanager
    def model_call(self, model: str, jobs: Sequence[Job], texts: int) -> Iterator[None]:
        """A span around one model call serving ``jobs``."""
        if self._tracer is None:
            yield
            return
        from opentelemetry import trace

        contexts = [
            self._spans[job.id].get_span_context()
            if job.id in self._spans
            else trace.get_current_span(_extract(job.trace_parent)).get_span_context()
            for job in jobs
        ]
        parent = self._spans.get(jobs[0].id) if jobs else None
        with self._tracer.start_as_current_span(
            "inferql.model_call",
            context=trace.set_span_in_context(parent) if parent is not None else None,
            links=[trace.Link(context) for context in contexts if context.is_valid],
            attributes={
                "inferql.model": model,
                "inferql.batch.texts": texts,
                "inferql.batch.jobs": len(jobs),
            },
        ):
            yield


def _extract(trace_parent: str | None) -> Context | None:
    if trace_parent is None:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract({"traceparent": trace_parent})
