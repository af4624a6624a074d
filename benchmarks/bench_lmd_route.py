"""How long the Lakh MIDI route's conversion takes (docs/fetch.md).

    python benchmarks/bench_lmd_route.py [--pairs ../shared/data/lmd_to_lpd] [--workers 0]

Converts every Lakh MIDI file under ``<pairs>/lmd_full`` exactly as stage fetch does
(``pipeline.fetch.lmd.convert_task``: parse, convert with the LPD-exact converter, write LPD's
``.npz``, read it back and check it), first in this process, file by file, then on ``--workers``
processes (0: every core) as fetch runs it. Prints the CPU time and the wall time per file and per
MB of MIDI, the load average (on a shared machine the wall time is the CPU time stretched by the
other processes), and what that gives for the 1,685 MIDI files the default manifest needs, assuming
they convert at the same rate as these (their sizes are not known here: the download is not).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from pipeline.data.parallel import n_workers, ordered_map
from pipeline.fetch.lmd import convert_task

DEFAULT_PAIRS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lmd_to_lpd"
NEEDED = 1685  # distinct md5s among the default manifest's 2,076 LPD-cleansed files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, default=DEFAULT_PAIRS, help="holds lmd_full/")
    parser.add_argument("--workers", type=int, default=0, help="processes; 0 = every core")
    args = parser.parse_args()
    files = sorted((args.pairs / "lmd_full").rglob("*.mid"))
    if not files:
        raise SystemExit(f"{args.pairs / 'lmd_full'}: no .mid files")
    megabytes = sum(f.stat().st_size for f in files) / 1e6
    workers = n_workers(args.workers)
    with tempfile.TemporaryDirectory() as out:
        tasks = [(str(f), f.stem, [str(Path(out) / f"{f.stem}.npz")]) for f in files]
        cpu, wall = [], []
        for task in tasks:
            start, start_cpu = time.perf_counter(), time.process_time()
            _md5, _digest, error = convert_task(task)
            cpu.append(time.process_time() - start_cpu)
            wall.append(time.perf_counter() - start)
            if error is not None:
                raise SystemExit(f"{task[0]}: {error}")
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        results = list(ordered_map(convert_task, tasks, workers))
        parallel = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        assert all(error is None for _m, _d, error in results)
    n, serial, serial_cpu = len(files), sum(wall), sum(cpu)
    pool_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    print(f"{n} MIDI files, {megabytes:.2f} MB; load average {os.getloadavg()[0]:.1f}")
    print(
        f"one process: CPU {serial_cpu:.1f} s ({serial_cpu / n:.2f} s per file, "
        f"min {min(cpu):.2f}, max {max(cpu):.2f}; {serial_cpu / megabytes:.2f} s per MB), "
        f"wall {serial:.1f} s"
    )
    print(f"{workers} process(es): wall {parallel:.1f} s, CPU in the workers {pool_cpu:.1f} s")
    print(
        f"{NEEDED} files at these rates: CPU {NEEDED * serial_cpu / n / 60:.1f} min "
        f"(so {NEEDED * serial_cpu / n / 60 / workers:.1f} min on {workers} idle cores); "
        f"wall here {NEEDED * parallel / n / 60:.1f} min on {workers}"
    )


if __name__ == "__main__":
    main()
