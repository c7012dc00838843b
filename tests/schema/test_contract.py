"""schema.graphql at the repository root is the contract clients build against."""

from __future__ import annotations

from pathlib import Path

from inferql.schema import export_sdl

SDL = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_the_code_matches_schema_graphql() -> None:
    assert export_sdl() == SDL.read_text(), (
        "The schema changed: review the change, then run `inferql export-schema "
        "--output schema.graphql` (breaking changes need a deprecation first)."
    )


def test_every_root_field_is_documented() -> None:
    from inferql.schema import build_schema

    schema = build_schema()._schema
    for root in (schema.query_type, schema.mutation_type, schema.subscription_type):
        assert root is not None
        for name, field in root.fields.items():
            assert field.description, f"{root.name}.{name} has no description"
