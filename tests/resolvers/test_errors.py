"""Every GraphQL error carries a stable extensions.code and a clear message;
unexpected exceptions are masked and logged."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import strawberry

from inferql.backends.base import JobStore
from inferql.jobs.model import JobStatus
from tests.conftest import HarnessFactory
from tests.resolvers.conftest import ContextFactory


def only_error(result: Any) -> tuple[str, str]:
    assert result.errors is not None and len(result.errors) == 1, result.errors
    error = result.errors[0]
    return error.extensions["code"], error.message


@pytest.mark.parametrize(
    ("query", "code", "message"),
    [
        ('{ classify(text: "") { label } }', "BAD_USER_INPUT", "Text 0 is empty"),
        ("{ classifyBatch(texts: []) { label } }", "BAD_USER_INPUT", "at least one text"),
        (
            '{ classifyBatch(texts: ["a","b","c","d"]) { label } }',
            "BAD_USER_INPUT",
            "at most 3 are accepted",
        ),
        ('{ classify(text: "%s") { label } }' % ("x" * 51), "BAD_USER_INPUT", "at most 50"),
        ('{ classify(text: "hi", model: "nope") { label } }', "MODEL_NOT_FOUND", "nope"),
        (
            '{ classify(text: "hi", model: "sentiment@7") { label } }',
            "MODEL_NOT_FOUND",
            "no version '7'",
        ),
        (
            "mutation { submitClassification(input: {texts: []}) { id } }",
            "BAD_USER_INPUT",
            "at least one text",
        ),
        ('mutation { cancelJob(id: "01NOSUCHJOB") { id } }', "NOT_FOUND", "01NOSUCHJOB"),
        ("{ jobs(first: 1000) { edges { cursor } } }", "BAD_USER_INPUT", "`first`"),
        ('{ jobs(after: "garbage") { edges { cursor } } }', "BAD_USER_INPUT", "cursor"),
        ("{ classify(text: ", "GRAPHQL_PARSE_FAILED", "Syntax Error"),
        ("{ nosuchfield }", "GRAPHQL_VALIDATION_FAILED", "nosuchfield"),
        ("{ jobs(status: DONE) { edges { cursor } } }", "GRAPHQL_VALIDATION_FAILED", "DONE"),
    ],
)
async def test_bad_requests_get_their_code_and_a_clear_message(
    schema: strawberry.Schema,
    harness: HarnessFactory,
    context_for: ContextFactory,
    query: str,
    code: str,
    message: str,
) -> None:
    h = harness(max_texts_per_job=3, max_text_chars=50)
    result = await schema.execute(query, context_value=context_for(h))
    assert only_error(result)[0] == code
    assert message in only_error(result)[1]


async def test_bad_variables_are_bad_user_input(
    schema: strawberry.Schema, harness: HarnessFactory, context_for: ContextFactory
) -> None:
    result = await schema.execute(
        "query($n: Int) { jobs(first: $n) { edges { cursor } } }",
        variable_values={"n": "many"},
        context_value=context_for(harness()),
    )
    assert only_error(result)[0] == "BAD_USER_INPUT"


async def test_an_unknown_job_is_null(
    schema: strawberry.Schema, harness: HarnessFactory, context_for: ContextFactory
) -> None:
    result = await schema.execute(
        '{ job(id: "01NOSUCHJOB") { id } }', context_value=context_for(harness())
    )
    assert result.errors is None
    assert result.data == {"job": None}


async def test_cancelling_a_finished_job_is_a_conflict(
    schema: strawberry.Schema, harness: HarnessFactory, context_for: ContextFactory
) -> None:
    h = harness(max_wait_ms=0)
    job = await h.service.submit(["finish me"])
    await h.service.wait(job.id, 5)

    result = await schema.execute(
        f'mutation {{ cancelJob(id: "{job.id}") {{ id }} }}', context_value=context_for(h)
    )

    assert only_error(result) == (
        "CONFLICT",
        f"Job {job.id!r} has already finished (SUCCEEDED).",
    )


async def test_a_failed_model_call_is_internal_and_leaks_nothing(
    schema: strawberry.Schema, harness: HarnessFactory, context_for: ContextFactory
) -> None:
    h = harness(fail=True, max_wait_ms=0)
    result = await schema.execute('{ classify(text: "x") { label } }', context_value=context_for(h))
    code, message = only_error(result)
    assert code == "INTERNAL"
    assert "GPU" not in message


class BrokenList:
    """A job store whose ``list`` fails with a secret in its message."""

    def __init__(self, store: JobStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def list(
        self,
        *,
        status: JobStatus | None,
        before: str | None,
        limit: int,
        owner: str | None = None,
    ) -> Any:
        raise RuntimeError("connection string postgres://admin:hunter2@db")


async def test_an_unexpected_exception_is_masked_and_logged(
    schema: strawberry.Schema,
    harness: HarnessFactory,
    context_for: ContextFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = harness()
    h.backend.jobs = BrokenList(h.backend.jobs)  # type: ignore[misc]

    with caplog.at_level(logging.ERROR, logger="inferql.errors"):
        result = await schema.execute("{ jobs { edges { cursor } } }", context_value=context_for(h))

    assert only_error(result) == ("INTERNAL", "Internal server error.")
    assert result.errors is not None
    assert "hunter2" not in str(result.errors[0].formatted)
    assert "hunter2" in caplog.text
