"""freeze_built_run: the run's startup objects leave the collector's view; its garbage does not."""

from __future__ import annotations

import gc
import weakref

import pytest

from gantui.engine.heap import freeze_built_run


@pytest.fixture
def unfrozen():
    yield
    gc.unfreeze()


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_live_objects_are_frozen_and_garbage_cycles_are_freed_first(unfrozen) -> None:
    kept = Node()
    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle only a collection frees
    gone = weakref.ref(a)
    del a, b
    frozen = freeze_built_run()
    assert gone() is None  # collected before the freeze, not kept for the life of the run
    assert frozen == gc.get_freeze_count() > 0
    assert not any(o is kept for o in gc.get_objects())  # a frozen object is out of every collection
