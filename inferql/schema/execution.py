"""graphql-core's executor, without a reference cycle per operation.

graphql-core 3.3's executor hands every resolver's ``info`` two helpers that are
its own bound methods (``async_helpers``), so each executor refers to itself:
it and everything it holds (the collected fields, the coerced variables, the
errors) outlive the operation until the garbage collector finds the cycle,
some 45 objects per operation that every collection on the way walks again.
Here the helpers refer to the executor weakly: the operation's own frames keep
it alive while it runs, and reference counting frees it when it returns.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from graphql.type.definition import GraphQLResolveInfoHelpers
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


class OperationExecutor(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.async_helpers = GraphQLResolveInfoHelpers(
            gather=_weakly(self.gather_async_work), track=_weakly(self.track_async_work)
        )


P = ParamSpec("P")
R = TypeVar("R")


def _weakly(method: Callable[P, R]) -> Callable[P, R]:
    """``method`` (a bound method) without a strong reference to its object."""
    ref = weakref.WeakMethod(method)

    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        bound = ref()
        if bound is None:
            raise RuntimeError("the operation's executor is gone")
        return bound(*args, **kwargs)

    return call
