"""While an app runs, the garbage collector leaves what existed at startup alone
(inferql/heap.py) yet still collects what requests leave behind; it gets the
startup objects back when the app shuts down."""

from __future__ import annotations

import gc
import weakref

from inferql.app import create_app
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
    app = create_app(Settings.model_validate({}), models=CountingModels())
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        await next(task for task in runtime.tasks if task.get_name() == "inferql-warm-up")
        assert runtime.model_ready
        assert gc.get_freeze_count() > 1000
        garbage = cyclic_garbage()  # made after startup: still collected
        gc.collect()
        assert garbage() is None
    assert gc.get_freeze_count() == 0


async def test_an_api_process_without_a_worker_freezes_at_startup() -> None:
    app = create_app(Settings.model_validate({"run_worker": False}))
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() > 1000
    assert gc.get_freeze_count() == 0
