"""An ordered, bounded parallel map: results come back in input order, few at a time.

``Pool.imap`` would let fast workers run arbitrarily far ahead of a slow consumer (the HDF5
writer) and pile results up in memory; here at most ``ahead`` tasks are in flight, so memory stays
bounded by a few songs whatever the dataset size.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def n_workers(requested: int) -> int:
    """``requested`` processes, or every available core when 0."""
    if requested > 0:
        return requested
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def ordered_map(
    fn: Callable[[T], R], items: Iterable[T], workers: int, ahead_per_worker: int = 4
) -> Iterator[R]:
    """Yield ``fn(item)`` for each item, in order, on ``workers`` processes (1 = in-process).

    ``fn`` must be a picklable top-level function. At most ``workers * ahead_per_worker`` results
    are pending at any time.
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    ahead = workers * ahead_per_worker
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.apply_async(fn, (item,)))
            if len(pending) >= ahead:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
