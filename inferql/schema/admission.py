"""What an operation asks for, read from its document before it executes (over
HTTP or a websocket), so that the guard can refuse it before anything runs. The
decision itself is ``inferql.security``'s; this module only reads the document:
the root fields it selects and the texts their arguments carry.

Which root fields a document selects, and which of them carry texts, depends on
the document alone, so it is worked out once per document text
(``OperationShapes``); only the text count is read from each request's
variables, and only for operations that send texts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_operation_ast,
)
from graphql.execution.values import get_argument_values, get_variable_values

from inferql.security.admission import TEXT_ARGUMENTS, OperationPlan, text_cost

NOTHING = OperationPlan(root_fields=(), texts=0)


@dataclass(frozen=True, slots=True)
class OperationShape:
    """The root fields of one operation of a document, and those that send texts."""

    operation: OperationDefinitionNode
    root_fields: tuple[str, ...]
    text_fields: tuple[tuple[str, GraphQLField, FieldNode], ...]


class OperationShapes:
    """Plans operations, with the shape of each (document text, operation name)
    cached; ``parse`` is the schema's cached parser, and ``cacheable`` says which
    texts the cache may keep (those the parse cache keeps)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        parse: Callable[[str], DocumentNode],
        cacheable: Callable[[str], bool] = lambda query: True,
        maxsize: int = 1024,
    ) -> None:
        self._schema = schema
        self._parse = parse
        self._cacheable = cacheable
        self._cached = lru_cache(maxsize=maxsize)(self._shape_of_text)

    def shape(
        self, query: str | None, document: DocumentNode, operation_name: str | None
    ) -> OperationShape | None:
        """The shape of the operation of ``document`` (parsed from ``query``) that
        ``operation_name`` names; None if there is none."""
        if query is None or not self._cacheable(query):
            return shape_of(self._schema, document, operation_name)
        return self._cached(query, operation_name)

    def plan(self, shape: OperationShape | None, variables: dict[str, Any] | None) -> OperationPlan:
        """What an operation of this shape asks for with these variables."""
        if shape is None:
            return NOTHING
        if not shape.text_fields:
            return OperationPlan(root_fields=shape.root_fields, texts=0)
        coerced = get_variable_values(
            self._schema, shape.operation.variable_definitions or (), variables or {}
        )
        if isinstance(coerced, list):
            return NOTHING  # execution reports the errors
        texts = 0
        for name, definition, node in shape.text_fields:
            try:
                arguments = get_argument_values(definition, node, coerced)
            except GraphQLError:  # execution reports bad arguments precisely
                continue
            texts += text_cost(name, arguments)
        return OperationPlan(root_fields=shape.root_fields, texts=texts)

    def cache_info(self) -> Any:
        """The shape cache's ``functools`` statistics."""
        return self._cached.cache_info()

    def _shape_of_text(self, query: str, operation_name: str | None) -> OperationShape | None:
        return shape_of(self._schema, self._parse(query), operation_name)


def shape_of(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> OperationShape | None:
    """The shape of the operation ``operation_name`` names (None: there is none)."""
    operation = get_operation_ast(document, operation_name)
    root_type = None if operation is None else schema.get_root_type(operation.operation)
    if operation is None or root_type is None:
        return None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    names: list[str] = []
    text_fields: list[tuple[str, GraphQLField, FieldNode]] = []
    for node in _fields(operation.selection_set, fragments, set()):
        name = node.name.value
        names.append(name)
        definition = root_type.fields.get(name)
        if definition is not None and name in TEXT_ARGUMENTS:
            text_fields.append((name, definition, node))
    return OperationShape(
        operation=operation,
        root_fields=tuple(dict.fromkeys(names)),
        text_fields=tuple(text_fields),
    )


def _fields(
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    seen: set[str],
) -> Iterator[FieldNode]:
    """Every field of one selection set, through fragments (each spread once).
    @skip and @include are not evaluated: a skipped field still counts."""
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name not in seen and name in fragments:
                seen.add(name)
                yield from _fields(fragments[name].selection_set, fragments, seen)
