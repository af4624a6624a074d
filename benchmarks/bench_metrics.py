"""Benchmark: all metrics, both modes, over the paper's 13,746 training phrases.

    python benchmarks/bench_metrics.py [--tensor data/tensor.h5] [--phrases 13746] [--loop 64]

Data: the paper's training set has 13,746 phrases (N, 4, 96, 84, 8) = 3.5 GB of bool, so the
benchmark streams it: one pool chunk of ``--chunk`` phrases is built once and fed to the
evaluator repeatedly (tiled) until ``--phrases`` phrases have been evaluated, as the evaluate stage
feeds chunks read from the HDF5 file. With ``--tensor`` the pool is resampled (with a fixed seed)
from the real phrases of that file; without it, it is random sparse data with the training data's
rough statistics (about half of the bars of a track empty, notes of 1 to 8 steps). The metric code
does the same work whatever the content, so the timings hold for both.

Printed beside it: the straightforward per-bar loop implementation
(``pipeline.metrics.loop_reference``, as fast as the original code) on the first ``--loop``
phrases of the same pool, with its rate extrapolated to the full set, and a check that both give
the same per-bar values. Wall time is shown with CPU time, since the machine may be shared. With
``--tensor`` the full evaluate stage (HDF5 reading and decompression included) is timed too.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.cli import count, existing_file, first_paragraph, params_arg  # noqa: E402
from pipeline.data.phrase_file import count_phrases, read_phrases  # noqa: E402
from pipeline.metrics.engine import bar_scores, bar_statistics  # noqa: E402
from pipeline.metrics.evaluator import PhraseEvaluator  # noqa: E402
from pipeline.metrics.loop_reference import loop_bar_scores  # noqa: E402

PAPER_PHRASES = 13_746


def random_pool(n: int, seed: int) -> np.ndarray:
    """Random sparse phrases (n, 4, 96, 84, 8): per (bar, track) a density or silence."""
    rng = np.random.default_rng(seed)
    phrases = np.zeros((n, 4, 96, 84, 8), dtype=bool)
    for start in range(0, n, 64):  # in slices, to keep the generator's memory small
        part = phrases[start : start + 64]
        shape = part.shape
        density = rng.choice([0.0, 0.0, 0.001, 0.003, 0.01], size=(*shape[:2], 1, 1, 8))
        onsets = rng.random(shape, dtype=np.float32) < density
        lengths = rng.integers(1, 9, size=shape, dtype=np.int8)
        part |= onsets
        for lag in range(1, 8):  # notes of 1 to 8 steps
            part[:, :, lag:] |= onsets[:, :, :-lag] & (lengths[:, :, :-lag] > lag)
    return phrases


def tensor_pool(path: str, n: int, seed: int) -> np.ndarray:
    """``n`` phrases resampled with replacement from the phrase file ``path``."""
    total = count_phrases(path)
    real = read_phrases(path, 0, min(total, 4 * n))
    index = np.random.default_rng(seed).integers(0, len(real), size=n)
    return real[np.sort(index)]


def time_vectorised(
    pool: np.ndarray, n_phrases: int, cfg, modes, threads: int | None
) -> dict[str, float]:
    evaluator = PhraseEvaluator(cfg, modes, n_tracks=pool.shape[-1], threads=threads)
    tracemalloc.start()
    wall, cpu = time.perf_counter(), time.process_time()
    done = 0
    while done < n_phrases:
        chunk = pool[: min(len(pool), n_phrases - done)]
        evaluator.add(chunk)
        done += len(chunk)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "wall": wall,
        "cpu": cpu,
        "peak_mb": peak / 2**20,
        "phrases": done,
        "threads": evaluator.threads,
    }


def time_loop(pool: np.ndarray, n_phrases: int, cfg, modes) -> dict[str, float]:
    # The per-bar oracle covers the per-bar modes; mode modern scores whole phrases.
    modes = [m for m in modes if m in ("paper", "musical")]
    bars = pool[:n_phrases].reshape(-1, *pool.shape[2:])
    wall, cpu = time.perf_counter(), time.process_time()
    results = {mode: loop_bar_scores(bars, getattr(cfg, mode), cfg) for mode in modes}
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stats = bar_statistics(
        bars, max_window=max(getattr(cfg, m).qualified_min_steps for m in modes) + 1
    )
    for mode, (scores, tonal) in results.items():
        fast_scores, fast_tonal = bar_scores(stats, getattr(cfg, mode), cfg)
        np.testing.assert_allclose(fast_scores, scores, rtol=1e-12, atol=1e-12, equal_nan=True)
        np.testing.assert_allclose(fast_tonal, tonal, rtol=1e-12, atol=1e-12, equal_nan=True)
    return {"wall": wall, "cpu": cpu, "phrases": n_phrases}


def time_stage(path: str, cfg, modes) -> dict[str, float]:
    evaluator = PhraseEvaluator(cfg, modes, n_tracks=8)
    from pipeline.data.phrase_file import iter_phrase_chunks

    wall, cpu = time.perf_counter(), time.process_time()
    evaluator.add_chunks(iter_phrase_chunks(path, cfg.chunk_size))
    return {
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "phrases": evaluator.n_phrases,
    }


def report(name: str, result: dict[str, float]) -> None:
    rate = result["phrases"] / result["wall"]
    full = PAPER_PHRASES / rate
    print(
        f"{name:<34} {result['phrases']:>7.0f} phrases  wall {result['wall']:7.2f} s  "
        f"cpu {result['cpu']:7.2f} s  {rate:9.0f} phrases/s  -> {full:8.2f} s for {PAPER_PHRASES:,}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument(
        "--params",
        type=params_arg,
        default="params.yaml",
        help="the params file (metrics section; default: %(default)s)",
    )
    parser.add_argument(
        "--tensor",
        type=existing_file,
        default=None,
        help="a phrase file (HDF5) to resample the pool from (default: random sparse phrases)",
    )
    parser.add_argument(
        "--phrases",
        type=count,
        default=PAPER_PHRASES,
        help="phrases to evaluate (default: %(default)s)",
    )
    parser.add_argument(
        "--chunk",
        type=count,
        default=None,
        help="pool size in phrases (default: metrics.chunk_size)",
    )
    parser.add_argument(
        "--loop", type=count, default=64, help="phrases for the per-bar loop (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the pool (default: 0)")
    parser.add_argument(
        "--threads", type=count, default=None, help="torch threads (default: up to 2)"
    )
    args = parser.parse_args(argv)
    cfg = args.params.metrics
    modes = list(cfg.modes)
    n_pool = args.chunk or cfg.chunk_size
    if args.tensor:
        pool = tensor_pool(args.tensor, n_pool, args.seed)
        source = f"{n_pool} phrases resampled from {args.tensor}"
    else:
        pool = random_pool(n_pool, args.seed)
        source = f"{n_pool} random sparse phrases (seed {args.seed})"
    print(f"data: {source}, tiled to {args.phrases:,} phrases; modes {modes}")
    print(
        f"pool: {pool.nbytes / 2**20:.0f} MiB bool, density {pool.mean():.4f}, "
        f"empty-bar rate {1 - pool.any(axis=(2, 3)).mean():.3f}"
    )
    loop = time_loop(pool, min(args.loop, len(pool)), cfg, modes)
    fast = time_vectorised(pool, args.phrases, cfg, modes, args.threads)
    report("per-bar loop (oracle)", loop)
    report(f"vectorised (engine, {fast['threads']} thread(s))", fast)
    print(
        f"speed-up: {loop['wall'] / loop['phrases'] / (fast['wall'] / fast['phrases']):.0f}x "
        f"(wall), {loop['cpu'] / loop['phrases'] / (fast['cpu'] / fast['phrases']):.0f}x (cpu); "
        f"loop and engine agree on the loop's {loop['phrases']} phrases"
    )
    print(
        f"peak memory: {fast['peak_mb']:.0f} MiB allocated during the vectorised run "
        f"(beyond the {pool.nbytes / 2**20:.0f} MiB pool); "
        f"process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )
    if args.tensor:
        report("evaluate stage (HDF5 read incl.)", time_stage(args.tensor, cfg, modes))


if __name__ == "__main__":
    main()
