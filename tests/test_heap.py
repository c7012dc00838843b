"""While an app runs, the garbage collector leaves what existed at startup alone
(inferql/heap.py) yet still collects what requests leave behind; it gets the
startup objects back when the app shuts down. And an operation leaves no
reference cycle for it to find."""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from starlette.types import ASGIApp, Message

from inferql.app import create_app
from inferql.heap import YOUNG_THRESHOLD
from inferql.settings import Settings
from tests.support import CountingModels


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cyclic_garbage() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


async def test_the_startup_objects_are_frozen_once_the_model_is_loaded() -> None:
    before = gc.get_threshold()
    app = create_app(Settings.model_validate({}), models=CountingModels())
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        await next(task for task in runtime.tasks if task.get_name() == "inferql-warm-up")
        assert runtime.model_ready
        assert gc.get_freeze_count() > 1000
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *before[1:])
        garbage = cyclic_garbage()  # made after startup: still collected
        gc.collect()
        assert garbage() is None
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


async def test_an_api_process_without_a_worker_freezes_at_startup() -> None:
    app = create_app(Settings.model_validate({"run_worker": False}))
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() > 1000
    assert gc.get_freeze_count() == 0


async def _post(app: ASGIApp, document: dict[str, object]) -> dict[str, Any]:
    """One POST /graphql straight through the ASGI app (no HTTP client, whose own
    objects would muddy the count)."""
    body = json.dumps(document).encode()
    sent: list[Message] = []
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if delivered:
            await asyncio.Event().wait()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"accept", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    await app(scope, receive, send)
    answer: dict[str, Any] = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    return answer


CLASSIFY = "query($t: String!) { classify(text: $t) { label score cached } }"
OPERATIONS: dict[str, Callable[[int], dict[str, object]]] = {
    "classify": lambda i: {"query": CLASSIFY, "variables": {"t": f"text {i}"}},
    "cached classify": lambda i: {"query": CLASSIFY, "variables": {"t": "the same text"}},
    "classifyBatch": lambda i: {
        "query": "query($t: [String!]!) { classifyBatch(texts: $t) { label } }",
        "variables": {"t": [f"first {i}", f"second {i}"]},
    },
    "submitClassification": lambda i: {
        "query": "mutation($t: String!) { submitClassification(input: {texts: [$t]}) { id } }",
        "variables": {"t": f"job {i}"},
    },
    "models": lambda i: {"query": "{ models { name labels } }"},
}


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_an_operation_leaves_no_reference_cycle_behind(operation: str) -> None:
    # What an operation made is freed as soon as it answers, by reference
    # counting: the young generation then only ever holds requests in flight.
    make = OPERATIONS[operation]
    app = create_app(Settings.model_validate({}), models=CountingModels())
    async with app.router.lifespan_context(app):
        await next(t for t in app.state.runtime.tasks if t.get_name() == "inferql-warm-up")
        for i in range(5):  # first calls fill caches, which are no garbage
            await _post(app, make(i))
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            answers = [await _post(app, make(i)) for i in range(5, 25)]
            await asyncio.sleep(0.05)  # the jobs' ends, announced after the answers
            gc.collect()
            left = [type(o).__qualname__ for o in gc.garbage]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    assert all("errors" not in answer for answer in answers), answers[-1]
    assert not left, Counter(left).most_common(8)
