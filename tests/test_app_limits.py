"""End to end: rate limits in texts and back-pressure from the queue, as HTTP
statuses and headers (authentication off: every request is the local caller)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from inferql.inference.catalog import Catalog
from inferql.inference.registry import ModelRegistry
from inferql.settings import Settings
from tests.support import RunningServer, free_port

SUBMIT = "mutation($t: [String!]!) { submitClassification(input: {texts: $t}) { id } }"


@pytest.fixture(scope="module")
def limited(model_registry: ModelRegistry, catalog: Catalog) -> Iterator[RunningServer]:
    settings = Settings.model_validate(
        {"port": free_port(), "max_wait_ms": 10, "rate_limit_texts": 5, "rate_limit_window_s": 60}
    )
    with RunningServer(settings, model_registry, catalog) as running:
        yield running


@pytest.fixture(scope="module")
def unattended(model_registry: ModelRegistry, catalog: Catalog) -> Iterator[RunningServer]:
    """No worker: queued jobs stay queued, so the queue's depth is known."""
    settings = Settings.model_validate(
        {"port": free_port(), "run_worker": False, "max_queue_depth": 1}
    )
    with RunningServer(settings, model_registry, catalog) as running:
        yield running


@pytest.fixture(scope="module")
def small(model_registry: ModelRegistry, catalog: Catalog) -> Iterator[RunningServer]:
    settings = Settings.model_validate({"port": free_port(), "max_texts_per_job": 4})
    with RunningServer(settings, model_registry, catalog) as running:
        yield running


async def post(base: str, query: str, **variables: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        return await http.post("/graphql", json={"query": query, "variables": variables})


def rate_limit(response: httpx.Response) -> tuple[int, int]:
    """(remaining, seconds to reset) from the IETF draft's RateLimit field."""
    match = re.fullmatch(r'"texts";r=(\d+);t=(\d+)', response.headers["ratelimit"])
    assert match, response.headers["ratelimit"]
    return int(match[1]), int(match[2])


async def test_texts_are_counted_and_the_limit_refuses_with_429(limited: RunningServer) -> None:
    first = await post(limited.url, SUBMIT, t=["one", "two", "three"])
    free = await post(limited.url, "{ models { name } }")
    over = await post(limited.url, SUBMIT, t=["four", "five", "six"])
    fits = await post(
        limited.url, '{ a: classify(text: "four") { label } b: classify(text: "five") { label } }'
    )
    spent = await post(limited.url, '{ classify(text: "six") { label } }')

    assert first.status_code == 200
    assert first.headers["ratelimit-policy"] == '"texts";q=5;w=60'
    assert rate_limit(first)[0] == 2
    assert free.status_code == 200 and "ratelimit" not in free.headers  # no texts, no charge
    assert over.status_code == 429
    assert "data" not in over.json()
    assert [e["extensions"]["code"] for e in over.json()["errors"]] == ["RATE_LIMITED"]
    retry_after = int(over.headers["retry-after"])
    assert 0 < retry_after <= 120
    assert over.json()["errors"][0]["extensions"]["retryAfter"] == retry_after
    assert rate_limit(over)[0] == 2  # the refused request was not counted
    assert fits.status_code == 200 and "errors" not in fits.json()
    assert rate_limit(fits)[0] == 0
    assert spent.status_code == 429


async def test_a_request_larger_than_the_limit_is_told_so(limited: RunningServer) -> None:
    response = await post(limited.url, SUBMIT, t=[str(i) for i in range(6)])
    assert response.status_code == 429
    assert "at most 5" in response.json()["errors"][0]["message"]


async def test_a_deep_queue_refuses_new_work_with_503(unattended: RunningServer) -> None:
    first = await post(unattended.url, SUBMIT, t=["waits"])
    second = await post(unattended.url, SUBMIT, t=["waits too"])
    third = await post(unattended.url, SUBMIT, t=["refused"])
    reads = await post(unattended.url, "{ jobs { edges { node { status } } } }")

    assert first.status_code == second.status_code == 200
    assert third.status_code == 503
    assert int(third.headers["retry-after"]) > 0
    assert [e["extensions"]["code"] for e in third.json()["errors"]] == ["OVERLOADED"]
    assert reads.status_code == 200  # reading is not new work
    assert [e["node"]["status"] for e in reads.json()["data"]["jobs"]["edges"]] == ["QUEUED"] * 2


async def test_a_request_may_not_send_more_texts_than_a_job_holds_over_all_its_fields(
    small: RunningServer,
) -> None:
    def fields(n: int) -> str:
        """``n`` aliased classifyBatch fields of two texts each."""
        each = (f'f{i}: classifyBatch(texts: ["a{i}", "b{i}"]) {{ label }}' for i in range(n))
        return "{ " + " ".join(each) + " }"

    over = await post(small.url, fields(3))
    within = await post(small.url, fields(2))

    assert over.status_code == 400 and "data" not in over.json()
    [error] = over.json()["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "limit": 4}
    assert "sends 6 texts; at most 4 are accepted" in error["message"]
    assert within.status_code == 200 and "errors" not in within.json(), within.json()
