"""The operation's stages run the same through the schema's own runner and through
strawberry's generic one (which serves when tracing adds an extension): the
cached parse, validation, and one count per operation with its outcome."""

from __future__ import annotations

import functools

import pytest
import strawberry
from prometheus_client import REGISTRY

from inferql.schema import InferqlSchema, build_schema
from inferql.schema.operation import OperationRunner


def _count(operation_type: str, name: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "inferql_graphql_operations_total",
        {"operation_type": operation_type, "operation_name": name, "outcome": outcome},
    )
    return value or 0.0


@pytest.fixture(params=["own runner", "strawberry's runner"])
def schema(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> InferqlSchema:
    built = build_schema()
    assert isinstance(built, InferqlSchema)
    if request.param == "strawberry's runner":
        generic = functools.partial(strawberry.Schema.create_extensions_runner, built)
        monkeypatch.setattr(built, "create_extensions_runner", generic)
    return built


def test_the_schema_enters_the_stages_through_its_own_runner() -> None:
    schema = build_schema()
    runner = schema.create_extensions_runner(None, schema.get_extensions())  # type: ignore[arg-type]
    assert isinstance(runner, OperationRunner)


async def test_an_operation_that_runs_is_counted_once_as_ok(schema: InferqlSchema) -> None:
    before = _count("query", "RunnerProbe", "ok")
    for _ in range(2):  # the second parse and validation come from the caches
        result = await schema.execute("query RunnerProbe { __typename }")
        assert result.errors is None
        assert result.data == {"__typename": "Query"}
    assert _count("query", "RunnerProbe", "ok") == before + 2


@pytest.mark.parametrize(
    ("document", "operation_type", "name", "code"),
    [
        (
            "query RunnerInvalid { noSuchField }",
            "query",
            "RunnerInvalid",
            "GRAPHQL_VALIDATION_FAILED",
        ),
        ("query {", "unknown", "anonymous", "GRAPHQL_PARSE_FAILED"),
    ],
    ids=["does not validate", "does not parse"],
)
async def test_a_refused_document_is_counted_once_as_an_error(
    schema: InferqlSchema, document: str, operation_type: str, name: str, code: str
) -> None:
    before = _count(operation_type, name, "error")
    result = await schema.execute(document)
    assert result.data is None
    assert result.errors is not None
    assert result.errors[0].extensions == {"code": code}
    assert _count(operation_type, name, "error") == before + 1
