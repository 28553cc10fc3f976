"""Work in steps: the evaluator's long computations are generators that yield between chunks.

A generator that ``yield``s progress after each bounded chunk of work and ``return``s its result is a
state machine for free: the evaluator calls ``next`` once per :meth:`advance` (between training
iterations), and the plain functions drive the same generator to the end with :func:`finish`, so
the chunked and the one-pass results are the same code.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, TypeVar

T = TypeVar("T")


def finish(steps: Generator[Any, None, T]) -> T:
    """Run a stepwise computation to the end and return what it returns."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value
