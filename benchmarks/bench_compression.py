"""Benchmark: HDF5 chunk compression for the phrase file.

For each candidate filter, on real phrases: stored size, encode speed (what a build_tensor worker
does per phrase), write speed of the single writer (copying encoded chunks), and read speed
(whole file, and in the 1,024-phrase chunks evaluate reads). Best of ``--repeat`` runs.

    python benchmarks/bench_compression.py --tensor outputs/build_tensor/phrases.h5 --n 2000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np

from pipeline.cli import count, existing_file, first_paragraph

CANDIDATES = {
    "gzip-4 + shuffle (before)": dict(compression="gzip", compression_opts=4, shuffle=True),
    "gzip-1": dict(compression="gzip", compression_opts=1),
    "lzf": dict(compression="lzf"),
    "zstd-1": dict(hdf5plugin.Zstd(clevel=1)),
    "zstd-3": dict(hdf5plugin.Zstd(clevel=3)),
    "blosc lz4 bitshuffle": dict(
        hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.BITSHUFFLE)
    ),
    "blosc zstd-3 bitshuffle": dict(
        hdf5plugin.Blosc(cname="zstd", clevel=3, shuffle=hdf5plugin.Blosc.BITSHUFFLE)
    ),
    "bitshuffle lz4": dict(hdf5plugin.Bitshuffle(cname="lz4")),
}


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def encode(phrases: np.ndarray, filters: dict) -> list[bytes]:
    """Chunks as a worker makes them: through an in-memory HDF5 file with the same filter."""
    with h5py.File("encode", "w", driver="core", backing_store=False) as f:
        data = f.create_dataset("p", data=phrases, chunks=(1, *phrases.shape[1:]), **filters)
        return [data.id.read_direct_chunk((i, 0, 0, 0, 0))[1] for i in range(len(phrases))]


def write(path: Path, chunks: list[bytes], shape: tuple, filters: dict) -> None:
    with h5py.File(path, "w") as f:
        data = f.create_dataset("p", shape=shape, chunks=(1, *shape[1:]), dtype=bool, **filters)
        for i, chunk in enumerate(chunks):
            data.id.write_direct_chunk((i, 0, 0, 0, 0), chunk)


def read_all(path: Path, out: np.ndarray) -> None:
    with h5py.File(path, "r") as f:
        f["p"].read_direct(out)


def read_chunks(path: Path, out: np.ndarray, size: int = 1024) -> None:
    with h5py.File(path, "r") as f:
        data = f["p"]
        for start in range(0, len(out), size):
            stop = min(start + size, len(out))
            data.read_direct(out[start:stop], np.s_[start:stop], np.s_[0 : stop - start])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument(
        "--tensor",
        type=existing_file,
        default="outputs/build_tensor/phrases.h5",
        help="the phrase file to take real phrases from (default: %(default)s)",
    )
    parser.add_argument(
        "--n",
        type=count,
        default=2000,
        help="phrases to use, from the start (default: %(default)s)",
    )
    parser.add_argument(
        "--repeat",
        type=count,
        default=3,
        help="runs per measurement, best kept (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    with h5py.File(args.tensor, "r") as f:
        phrases = np.asarray(f["phrases"][: args.n], dtype=bool)
    n, raw_mb = len(phrases), phrases.nbytes / 1e6
    print(f"{n} phrases from {args.tensor} ({raw_mb:.0f} MB as bool), best of {args.repeat}")
    print(
        f"{'filter':28s} {'size MB':>8s} {'ratio':>6s} {'encode ph/s':>12s} "
        f"{'write ph/s':>11s} {'read ph/s':>10s} {'read 1024s':>10s}"
    )
    out = np.empty_like(phrases)
    with tempfile.TemporaryDirectory() as tmp:
        for name, filters in CANDIDATES.items():
            path = Path(tmp) / "bench.h5"
            chunks = encode(phrases, filters)
            t_enc = best_of(args.repeat, lambda f=filters: encode(phrases, f))
            t_wr = best_of(
                args.repeat, lambda c=chunks, f=filters, p=path: write(p, c, phrases.shape, f)
            )
            t_rd = best_of(args.repeat, lambda p=path: read_all(p, out))
            assert np.array_equal(out, phrases), name
            t_rc = best_of(args.repeat, lambda p=path: read_chunks(p, out))
            size = path.stat().st_size / 1e6
            print(
                f"{name:28s} {size:8.2f} {raw_mb / size:6.0f} {n / t_enc:12.0f} "
                f"{n / t_wr:11.0f} {n / t_rd:10.0f} {n / t_rc:10.0f}"
            )


if __name__ == "__main__":
    main()
