"""Every classify field of an operation becomes one job; concurrent operations
within max_wait_ms share one model call."""

from __future__ import annotations

import asyncio

import strawberry

from tests.conftest import HarnessFactory
from tests.resolvers.conftest import ContextFactory, data

EIGHT_ALIASES = (
    "{ " + " ".join(f'c{i}: classify(text: "text {i}") {{ label }}' for i in range(8)) + " }"
)


async def test_eight_aliased_classify_fields_make_one_model_call(
    schema: strawberry.Schema, harness: HarnessFactory, context_for: ContextFactory
) -> None:
    h = harness(max_wait_ms=0)

    result = await schema.execute(EIGHT_ALIASES, context_value=context_for(h))

    assert data(result) == {f"c{i}": {"label": f"text {i}"} for i in range(8)}
    assert len(h.models.batches) == 1
    assert sorted(h.models.batches[0]) == sorted(f"text {i}" for i in range(8))
    page = await h.service.list(first=10, after=None, status=None)
    assert len(page.jobs) == 1


async def test_classify_and_classify_batch_in_one_operation_share_a_job(
    schema: strawberry.Schema, harness: HarnessFactory, context_for: ContextFactory
) -> None:
    h = harness(max_wait_ms=0)
    query = (
        '{ one: classify(text: "x") { label } many: classifyBatch(texts: ["y", "z"]) { label } }'
    )

    result = await schema.execute(query, context_value=context_for(h))

    assert data(result) == {"one": {"label": "x"}, "many": [{"label": "y"}, {"label": "z"}]}
    assert len(h.models.batches) == 1


async def test_fields_on_two_models_make_one_job_each_and_keep_their_order(
    schema: strawberry.Schema, harness: HarnessFactory, context_for: ContextFactory
) -> None:
    h = harness(max_wait_ms=0)
    query = (
        '{ a: classify(text: "a", model: "sentiment@1") { label model { name } } '
        'b: classify(text: "b", model: "topic@1") { label model { name } } '
        'c: classify(text: "c", model: "sentiment@1") { label model { name } } }'
    )

    result = await schema.execute(query, context_value=context_for(h))

    assert data(result) == {
        "a": {"label": "a", "model": {"name": "sentiment"}},
        "b": {"label": "b", "model": {"name": "topic"}},
        "c": {"label": "c", "model": {"name": "sentiment"}},
    }
    calls = sorted((str(ref), sorted(texts)) for ref, texts in h.models.calls)
    assert calls == [("sentiment@1", ["a", "c"]), ("topic@1", ["b"])]
    page = await h.service.list(first=10, after=None, status=None)
    assert len(page.jobs) == 2


async def test_eight_concurrent_operations_share_one_model_call(
    schema: strawberry.Schema, harness: HarnessFactory, context_for: ContextFactory
) -> None:
    h = harness(batch_wait="fixed", max_wait_ms=300)

    results = await asyncio.gather(
        *(
            schema.execute(
                "query($t: String!) { classify(text: $t) { label } }",
                variable_values={"t": f"request {i}"},
                context_value=context_for(h),
            )
            for i in range(8)
        )
    )

    assert [data(r)["classify"]["label"] for r in results] == [f"request {i}" for i in range(8)]
    assert len(h.models.batches) == 1
    assert len(h.models.batches[0]) == 8


async def test_operations_that_share_a_context_are_each_answered_afresh(
    schema: strawberry.Schema, harness: HarnessFactory, context_for: ContextFactory
) -> None:
    """As a websocket's operations do: a failure is retried, and nothing is
    answered from an earlier operation (the inference cache is off)."""
    h = harness(max_wait_ms=0, cache_ttl_s=0)
    h.models.failing = frozenset({"flaky"})
    context = context_for(h)
    query = "query($t: String!) { classify(text: $t) { label } }"

    failed = await schema.execute(query, variable_values={"t": "flaky"}, context_value=context)
    h.models.failing = frozenset()
    retried = await schema.execute(query, variable_values={"t": "flaky"}, context_value=context)
    again = await schema.execute(query, variable_values={"t": "flaky"}, context_value=context)

    assert failed.errors and (failed.errors[0].extensions or {})["code"] == "INTERNAL"
    assert data(retried) == data(again) == {"classify": {"label": "flaky"}}
    assert h.models.batches == [["flaky"]] * 3
