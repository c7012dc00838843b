"""What an operation asks for, read before it runs: its root fields and its
texts, through variables, literals, input objects and fragments; the shape of a
document is worked out once per text."""

from __future__ import annotations

from typing import Any

import pytest

from inferql.schema import InferqlSchema, build_schema
from inferql.security.admission import OperationPlan


@pytest.fixture(scope="module")
def schema() -> InferqlSchema:
    built = build_schema()
    assert isinstance(built, InferqlSchema)
    return built


def plan(
    schema: InferqlSchema, query: str, operation: str | None = None, **variables: Any
) -> OperationPlan:
    shape = schema.shapes.shape(query, schema.documents.parse(query), operation)
    return schema.shapes.plan(shape, variables)


@pytest.mark.parametrize(
    ("query", "variables", "expected"),
    [
        ("query($t: String!) { classify(text: $t) { label } }", {"t": "a"}, ("classify", 1)),
        (
            '{ a: classify(text: "x") { label } b: classify(text: "y") { label } }',
            {},
            ("classify", 2),
        ),
        (
            "query($t: [String!]!) { classifyBatch(texts: $t) { label } }",
            {"t": ["a", "b", "c"]},
            ("classifyBatch", 3),
        ),
        (
            "mutation($t: [String!]!) { submitClassification(input: {texts: $t}) { id } }",
            {"t": ["a", "b"]},
            ("submitClassification", 2),
        ),
        (
            "mutation($i: SubmitClassificationInput!) { submitClassification(input: $i) { id } }",
            {"i": {"texts": ["a", "b", "c", "d"]}},
            ("submitClassification", 4),
        ),
        (
            "query($t: String!) { ...F } fragment F on Query { classify(text: $t) { label } }",
            {"t": "a"},
            ("classify", 1),
        ),
        # A list variable given one value is coerced to a list of one, as execution does.
        (
            "query($t: [String!]!) { classifyBatch(texts: $t) { label } }",
            {"t": "a"},
            ("classifyBatch", 1),
        ),
        ("{ models { name } }", {}, ("models", 0)),
    ],
)
def test_the_root_fields_and_texts_of_an_operation(
    schema: InferqlSchema, query: str, variables: dict[str, Any], expected: tuple[str, int]
) -> None:
    field, texts = expected
    assert plan(schema, query, **variables) == OperationPlan(root_fields=(field,), texts=texts)


def test_variables_that_do_not_coerce_charge_nothing(schema: InferqlSchema) -> None:
    # Execution reports the error; admission must not charge texts that never run.
    query = "query($t: [String!]!) { classifyBatch(texts: $t) { label } }"
    assert plan(schema, query, t=[1, None]).texts == 0


def test_the_named_operation_is_the_one_planned(schema: InferqlSchema) -> None:
    query = (
        "query A { models { name } } "
        "query B($t: [String!]!) { classifyBatch(texts: $t) { label } jobs { pageInfo { hasNextPage } } }"
    )
    assert plan(schema, query, "A", t=["x"]) == OperationPlan(root_fields=("models",), texts=0)
    assert plan(schema, query, "B", t=["x", "y"]) == OperationPlan(
        root_fields=("classifyBatch", "jobs"), texts=2
    )
    assert plan(schema, query, "C") == OperationPlan(root_fields=(), texts=0)


def test_a_documents_shape_and_parse_are_cached_by_its_text(schema: InferqlSchema) -> None:
    query = "query($t: String!) { classify(text: $t) { label } }"
    assert schema.documents.parse(query) is schema.documents.parse(query)
    assert schema.documents.validate(query) == []
    assert plan(schema, query, t="a").texts == 1
    hits = schema.shapes.cache_info().hits
    assert plan(schema, query, t="b").texts == 1
    assert schema.shapes.cache_info().hits == hits + 1
