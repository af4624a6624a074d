"""The kill harness, bounded for CI: build_tensor killed 3 times under each orchestrator.

The full count (5 kills of one instance of every stage, under both tools, the whole DAG run in
order) is ``python -m tests.robust.kill_harness``, whose table docs/robustness.md quotes; it takes
too long for every CI run.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile

from tests.dag.dag_tools import N_JOBS, PROVENANCE, REPO, dvc_jobs, same_file
from tests.robust.kill_harness import KILLED, dag_order, harness, table


def test_the_dag_order_puts_every_stage_after_what_it_reads():
    jobs = dvc_jobs(REPO)
    order = dag_order(jobs)
    assert sorted(order) == sorted(jobs) and len(order) == N_JOBS
    assert set(KILLED) <= set(order)
    position = {name: i for i, name in enumerate(order)}
    for name, job in jobs.items():
        for other, made in jobs.items():
            if made.outs & job.deps:
                assert position[other] < position[name], (other, name)


def _flac(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, 44100, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def test_outputs_compare_as_bytes_but_for_provenance_and_audio_noise():
    page = b"<h2>Tables</h2>0.5" + PROVENANCE + b"commit abc, 3.1 s"
    assert same_file("index.html", page, page.replace(b"abc, 3.1", b"def, 9.9"))
    assert not same_file("index.html", page, page.replace(b"0.5", b"0.6"))
    assert not same_file("log.csv", b"1,2", b"1,3")
    tone = np.sin(np.linspace(0, 100, 4410)) * 0.5
    assert same_file("a.flac", _flac(tone), _flac(tone + 1e-3))
    assert not same_file("a.flac", _flac(tone), _flac(tone * 0.9))
    assert not same_file("a.flac", _flac(tone), _flac(tone[:-1]))


@pytest.mark.slow
def test_killed_build_tensor_reruns_to_the_same_bytes():
    stages = ["fetch", "index_sources", "filter", "build_tensor"]  # each after what it reads
    tallies = harness(["dvc", "snakemake"], stages, 3, seed=1, only={"build_tensor"})
    print(table(tallies))
    assert [t.tool for t in tallies] == ["dvc", "snakemake"]
    for t in tallies:
        assert t.kills == 3, table(tallies)  # missed kills (the stage ended first) are retried
        assert t.recovered == t.kills and t.equal == t.kills, table(tallies)
        assert t.bad_leftovers == [], t.bad_leftovers
