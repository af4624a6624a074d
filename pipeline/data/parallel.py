"""An ordered, bounded parallel map: results come back in input order, few at a time.

``Pool.imap`` would let fast workers run arbitrarily far ahead of a slow consumer (the HDF5
writer) and pile results up in memory; here at most ``ahead`` batches of items are in flight, so
memory stays bounded by a few dozen songs whatever the dataset size.
"""

from __future__ import annotations

import itertools
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
    fn: Callable[[T], R],
    items: Iterable[T],
    workers: int,
    ahead_per_worker: int = 4,
    batch: int = 1,
) -> Iterator[R]:
    """Yield ``fn(item)`` for each item, in order, on ``workers`` processes (1 = in-process).

    ``fn`` must be a picklable top-level function. Items go to the workers ``batch`` at a time
    (one task and one result message per batch: at a few milliseconds per item, the pool's
    per-task messaging cost the parent process a quarter of a core). At most
    ``workers * ahead_per_worker`` batches are pending at any time.
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    ahead = workers * ahead_per_worker
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pending: deque = deque()
        for chunk in _chunks(items, batch):
            pending.append(pool.apply_async(_map_all, (fn, chunk)))
            if len(pending) >= ahead:
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of ``size`` items (the last one shorter); ``itertools.batched`` is 3.12."""
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def _map_all(fn: Callable[[T], R], chunk: list[T]) -> list[R]:
    return [fn(item) for item in chunk]
