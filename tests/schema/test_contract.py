"""schema.graphql at the repository root is the contract clients build against."""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema as parse_sdl
from graphql import find_breaking_changes

from inferql.schema import build_schema, export_sdl

SDL = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_the_code_matches_schema_graphql() -> None:
    committed = SDL.read_text()
    current = export_sdl()
    if current == committed:
        return
    breaking = find_breaking_changes(parse_sdl(committed), parse_sdl(current))
    raise AssertionError(
        "The schema differs from schema.graphql. Breaking changes (deprecate first):\n"
        + "".join(f"  - {change.description}\n" for change in breaking or [])
        + "If the change is intended, run `inferql export-schema --output schema.graphql`."
    )


def test_every_root_field_is_documented() -> None:
    schema = build_schema()._schema
    for root in (schema.query_type, schema.mutation_type, schema.subscription_type):
        assert root is not None
        for name, field in root.fields.items():
            assert field.description, f"{root.name}.{name} has no description"
