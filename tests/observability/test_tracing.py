"""Traces: a request's trace crosses the queue into the worker and its model call;
with tracing off, OpenTelemetry is never imported."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from inferql.inference.catalog import Catalog
from inferql.inference.registry import ModelRegistry
from inferql.settings import Settings
from tests.support import RunningServer, free_port

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    """Spans of this process, kept in memory. A process has one tracer provider;
    inferql uses the one it finds, as it would an embedding program's."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    yield memory
    memory.shutdown()


@pytest.fixture(scope="module")
def server(
    exporter: InMemorySpanExporter, model_registry: ModelRegistry, catalog: Catalog
) -> Iterator[RunningServer]:
    settings = Settings.model_validate(
        {"port": free_port(), "max_wait_ms": 10, "tracing": "console"}
    )
    with RunningServer(settings, model_registry, catalog) as running:
        yield running


async def test_a_request_trace_follows_its_job_through_the_worker(
    server: RunningServer, exporter: InMemorySpanExporter
) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        submitted = await http.post(
            "/graphql",
            json={
                "query": "mutation Submit($t: [String!]!) { submitClassification(input: {texts: $t}) { id } }",
                "variables": {"t": ["tracing across the queue is delightful"]},
            },
            headers={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"},
        )
    job_id = submitted.json()["data"]["submitClassification"]["id"]

    def ours() -> list[ReadableSpan]:
        return [
            s
            for s in exporter.get_finished_spans()
            if s.context is not None and s.context.trace_id == int(TRACE_ID, 16)
        ]

    async with asyncio.timeout(30):
        while not any(s.name == "inferql.job" for s in ours()):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    spans = {s.name: s for s in ours()}

    def parent_of(name: str) -> int | None:
        parent = spans[name].parent
        return None if parent is None else parent.span_id

    def id_of(name: str) -> int:
        context = spans[name].context
        assert context is not None
        return int(context.span_id)

    assert {"GraphQL Query: Submit", "GraphQL Resolving: submitClassification"} <= set(spans)
    server_span = next(
        s for s in spans.values() if s.kind is trace.SpanKind.SERVER and s.name.startswith("POST")
    )
    assert server_span.parent is not None and server_span.parent.span_id == int(CALLER_SPAN, 16)
    # The job's span in the worker is a child of the resolver that submitted it.
    assert parent_of("inferql.job") == id_of("GraphQL Resolving: submitClassification")
    job_attributes: dict[str, Any] = dict(spans["inferql.job"].attributes or {})
    assert job_attributes["inferql.job.id"] == job_id
    assert job_attributes["inferql.job.status"] == "SUCCEEDED"
    # The model call is a child of the job, and links every job it served.
    call = spans["inferql.model_call"]
    assert parent_of("inferql.model_call") == id_of("inferql.job")
    assert [link.context.span_id for link in call.links] == [id_of("inferql.job")]
    assert dict(call.attributes or {})["inferql.batch.texts"] == 1
    # The texts people send stay out of resolver attributes.
    resolver_attributes = spans["GraphQL Resolving: submitClassification"].attributes or {}
    assert not [key for key in resolver_attributes if key.startswith("graphql.param.input")]


def test_tracing_off_never_imports_opentelemetry() -> None:
    code = (
        "import sys\n"
        "from inferql.app import create_app\n"
        "from inferql.settings import Settings\n"
        "create_app(Settings.model_validate({'run_worker': False}))\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_otlp_tracing_installs_an_exporting_provider() -> None:
    code = (
        "from opentelemetry import trace\n"
        "from inferql.app import create_app\n"
        "from inferql.settings import Settings\n"
        "create_app(Settings.model_validate({'run_worker': False, 'tracing': 'otlp'}))\n"
        "provider = trace.get_tracer_provider()\n"
        "processors = provider._active_span_processor._span_processors\n"
        "print(provider.resource.attributes['service.name'],"
        " [type(p.span_exporter).__name__ for p in processors])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "inferql ['OTLPSpanExporter']"
