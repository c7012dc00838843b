"""The admission extension: before an operation executes (over HTTP or a
websocket), tell the guard what it asks for, so that a refused operation never
runs. The decision itself is ``inferql.security``'s; this module only reads the
document: the root fields it selects and the texts their arguments carry.

It also reports an idempotent replay in the response's
``extensions.idempotency.replayed``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    get_operation_ast,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from strawberry.extensions import SchemaExtension

from inferql.security.admission import OperationPlan, text_cost


class AdmissionExtension(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        if context is not None:  # None only for in-process calls without a request
            plan = plan_operation(self.execution_context.schema._schema, self.execution_context)
            await context.services.guard.admit(context.security, plan)
        yield

    def get_results(self) -> dict[str, Any]:
        context = self.execution_context.context
        if getattr(context, "security", None) is not None and context.security.replayed:
            return {"idempotency": {"replayed": True}}
        return {}


def plan_operation(schema: GraphQLSchema, execution_context: Any) -> OperationPlan:
    """The root fields of the operation to run and the texts they send."""
    document = execution_context.graphql_document
    operation = get_operation_ast(document, execution_context.operation_name)
    root_type = None if operation is None else schema.get_root_type(operation.operation)
    if operation is None or root_type is None:
        return OperationPlan(root_fields=(), texts=0)
    coerced = get_variable_values(
        schema, operation.variable_definitions or (), execution_context.variables or {}
    )
    if isinstance(coerced, list):
        return OperationPlan(root_fields=(), texts=0)  # execution reports the errors
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    names: list[str] = []
    texts = 0
    for node in _fields(operation.selection_set, fragments, set()):
        name = node.name.value
        names.append(name)
        definition = root_type.fields.get(name)
        if definition is not None:
            texts += text_cost(name, _arguments(definition, node, coerced))
    return OperationPlan(root_fields=tuple(dict.fromkeys(names)), texts=texts)


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


def _arguments(definition: Any, node: FieldNode, variables: VariableValues) -> dict[str, Any]:
    try:
        return get_argument_values(definition, node, variables)
    except GraphQLError:  # execution reports bad arguments precisely
        return {}
