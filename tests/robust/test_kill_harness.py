"""The kill harness, bounded for CI: build_tensor killed 3 times under each orchestrator.

The full count (5 kills of each of filter, build_tensor, pretrain, sample and evaluate, under both
tools) is ``python -m tests.robust.kill_harness``, whose table the README quotes; it takes about
20 minutes on a 2-core machine, too long for every CI run.
"""

from __future__ import annotations

import pytest

from tests.robust.kill_harness import harness, table

pytestmark = pytest.mark.slow


def test_killed_build_tensor_reruns_to_the_same_bytes():
    stages = ["filter", "build_tensor"]
    tallies = harness(["dvc", "snakemake"], stages, 3, seed=1, only={"build_tensor"})
    print(table(tallies))
    assert [t.tool for t in tallies] == ["dvc", "snakemake"]
    for t in tallies:
        assert t.kills == 3, table(tallies)  # missed kills (the stage ended first) are retried
        assert t.recovered == t.kills and t.equal == t.kills, table(tallies)
        assert t.bad_leftovers == [], t.bad_leftovers
