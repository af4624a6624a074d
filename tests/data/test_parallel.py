"""The bounded ordered map: input order whatever the batch size and worker count."""

from __future__ import annotations

import os

import pytest

from pipeline.data.parallel import ordered_map


def _square_and_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


@pytest.mark.parametrize(("workers", "batch"), [(1, 1), (2, 1), (2, 3), (2, 8), (3, 50)])
def test_results_come_back_in_input_order(workers, batch):
    items = list(range(37))  # not a multiple of any batch size: the last batch is short
    results = list(
        ordered_map(_square_and_pid, iter(items), workers, ahead_per_worker=2, batch=batch)
    )
    assert [r for r, _ in results] == [x * x for x in items]
    pids = {pid for _, pid in results}
    assert (pids == {os.getpid()}) == (workers == 1)  # 1 = in this process, else in workers


def test_no_items_give_no_results():
    assert list(ordered_map(_square_and_pid, [], 2, batch=4)) == []
