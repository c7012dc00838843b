"""Hostile documents are refused before they run: depth, aliases and tokens are
QUERY_TOO_COMPLEX; introspection and suggestions go when the settings say so."""

from __future__ import annotations

import pytest

from inferql.schema import InferqlSchema, build_schema
from inferql.settings import Settings

LIMITED = Settings.model_validate(
    {"max_query_depth": 3, "max_query_aliases": 2, "max_query_tokens": 40}
)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "{ jobs { edges { node { predictions { label } } } } }",
            "exceeds maximum operation depth of 3",
        ),
        ("{ a: models { name } b: models { name } c: models { name } }", "3 aliases found"),
        (
            "fragment F on Model { x: name y: name z: name } { models { ...F } }",
            "3 aliases found",
        ),
        ("{ models { " + "name " * 40 + "} }", "more than 40 tokens"),
    ],
)
async def test_documents_over_a_limit_are_too_complex(query: str, message: str) -> None:
    result = await build_schema(LIMITED).execute(query)

    assert result.data is None
    assert result.errors is not None and len(result.errors) == 1
    assert result.errors[0].extensions == {"code": "QUERY_TOO_COMPLEX"}
    assert message in result.errors[0].message


async def test_documents_within_the_limits_run() -> None:
    result = await build_schema(LIMITED).execute("{ a: __typename b: __typename }")
    assert result.errors is None
    assert result.data == {"a": "Query", "b": "Query"}


async def test_introspection_is_answered_unless_switched_off() -> None:
    query = "{ __schema { queryType { name } } }"
    on = await build_schema().execute(query)
    off = await build_schema(Settings.model_validate({"introspection": False})).execute(query)

    assert on.data == {"__schema": {"queryType": {"name": "Query"}}}
    assert off.data is None and off.errors is not None
    assert off.errors[0].extensions == {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert "introspection has been disabled" in off.errors[0].message
    typename = await build_schema(Settings.model_validate({"introspection": False})).execute(
        "{ __typename }"
    )
    assert typename.data == {"__typename": "Query"}


@pytest.mark.parametrize(
    "query",
    [
        "{ modelz { name } }",
        '{ classify(txt: "hi") { label } }',
        "{ jobs(status: SUCCEDED) { edges { cursor } } }",
    ],
)
async def test_suggestions_reveal_the_schema_unless_switched_off(query: str) -> None:
    on = await build_schema().execute(query)
    off = await build_schema(Settings.model_validate({"field_suggestions": False})).execute(query)

    assert on.errors is not None and "Did you mean" in on.errors[0].message
    assert off.errors is not None and off.errors[0].message
    assert all("Did you mean" not in e.message for e in off.errors)
    assert off.errors[0].extensions == {"code": "GRAPHQL_VALIDATION_FAILED"}


async def test_a_document_over_the_size_limit_is_too_complex_before_it_is_parsed() -> None:
    schema = build_schema(Settings.model_validate({"max_query_bytes": 300, "max_query_tokens": 40}))
    one_long_token = '{ job(id: "' + "x" * 300 + '") { id } }'
    many_tokens = "{ models { " + "name " * 60 + "} }"  # over both limits: the size says
    in_utf8 = '{ job(id: "' + "€" * 100 + '") { id } }'  # 115 characters, 315 bytes

    for query in (one_long_token, many_tokens, in_utf8):
        result = await schema.execute(query)
        assert result.errors is not None and len(result.errors) == 1
        assert result.errors[0].extensions == {"code": "QUERY_TOO_COMPLEX", "maxQueryBytes": 300}
        assert "larger than 300 bytes" in result.errors[0].message
    fits = await schema.execute("# " + "x" * 270 + "\n{ __typename }")
    assert fits.errors is None


def test_the_caches_keep_no_document_over_the_size_limit() -> None:
    schema = build_schema(Settings.model_validate({"max_query_bytes": 100}))
    assert isinstance(schema, InferqlSchema)
    small = "{ models { name } }"
    large = "{ models { name " + "labels " * 20 + "} }"  # from the allow-list, say

    assert schema.documents.parse(small) is schema.documents.parse(small)
    assert schema.documents.parse(large) is not schema.documents.parse(large)
    schema.shapes.shape(large, schema.documents.parse(large), None)
    assert schema.shapes.cache_info().currsize == 0
