"""The learning score of a checkpoint, beside the training data and an untrained model.

    python -m benchmarks.learning --checkpoint models/pretrain_proposed_cpu.pt \\
        --tensor outputs/build_tensor/phrases.h5 [--n 512] [--seed 0] [--json score.json]

Draws ``--n`` phrases from the checkpoint with a fixed seed (a stage-one model binarized by hard
thresholding, ``--binarize bs`` for Bernoulli sampling; a stage-two model's own binary output; a
track-conditional model given the track of the data set's phrases), the same number from an
untrained model of the same run config (same networks and width, fresh weights), and two
disjoint seeded sets of training phrases: the *data* set, scored like the others, and the
*reference* set the three are compared with. For a track-conditional model both sets hold only
phrases in which the given track plays: accompaniment is writing the other tracks for a part,
and a model given four bars of silence has nothing to follow (it then tends to write near
silence, the same for every z: the copies the score counts against it).

Prints one table of every measure and criterion of ``pipeline.metrics.learning`` (each
criterion's limit and reason are written there), and exits with status 0 when the model passes
every criterion, 1 when it does not.

Cost: a few seconds per set on a 2-core CPU at width 1/4 and 512 phrases, plus drawing them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.config import load_params
from pipeline.data.phrase_file import count_phrases, read_phrases, read_track_info
from pipeline.metrics.learning import CRITERIA, judge, passed, set_measures
from pipeline.sampling import draw
from pipeline.training.checkpoint import Sampler, load_checkpoint, load_sampler
from pipeline.training.device import keep_freed_memory
from pipeline.training.experiments import build_networks
from pipeline.training.run import network_width

BATCH = 64  # phrases drawn per forward pass


def data_sets(
    tensor: Path, n: int, seed: int, sounding: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint sets of ``n`` training phrases (the data set and the reference set), drawn
    by a permutation seeded by ``seed``; with ``sounding``, only phrases where that track plays
    (the phrases a track-conditional model is given something to accompany in)."""
    candidates = np.arange(count_phrases(tensor))
    if sounding is not None:
        candidates = candidates[track_sounds(tensor, sounding)]
    if len(candidates) < 2 * n:
        raise SystemExit(f"{tensor}: {len(candidates)} phrases qualify; the score needs {2 * n}")
    order = np.random.default_rng(seed).permutation(candidates)
    return read_rows(tensor, np.sort(order[:n])), read_rows(tensor, np.sort(order[n : 2 * n]))


def track_sounds(tensor: Path, track: int, chunk: int = 512) -> np.ndarray:
    """Bool (n_phrases,): whether ``track`` has an active cell in each phrase of ``tensor``."""
    total = count_phrases(tensor)
    parts = [
        read_phrases(tensor, start, min(start + chunk, total))[..., track].any(axis=(1, 2, 3))
        for start in range(0, total, chunk)
    ]
    return np.concatenate(parts)


def read_rows(tensor: Path, rows: np.ndarray, chunk: int = 512) -> np.ndarray:
    """The phrases at the sorted indices ``rows``, read ``chunk`` phrases at a time."""
    parts = []
    for start in range(0, int(rows[-1]) + 1, chunk):
        wanted = rows[(rows >= start) & (rows < start + chunk)]
        if len(wanted):
            parts.append(read_phrases(tensor, start, start + chunk)[wanted - start])
    return np.concatenate(parts)


def untrained_sampler(checkpoint: Path, seed: int) -> Sampler:
    """A sampler of the checkpoint's run config with freshly initialised weights."""
    ckpt = load_checkpoint(checkpoint)
    torch.manual_seed(seed)
    return Sampler(build_networks(ckpt["run"]), ckpt["run"], ckpt["track_names"]).eval()


def draw_set(sampler: Sampler, data: np.ndarray, n: int, binarize: str, seed: int) -> np.ndarray:
    """``n`` phrases of ``sampler``; a conditional one is given the data set's track."""
    how = "model" if sampler.kind == "binary" else binarize
    conditions = None
    if sampler.condition is not None:
        index = sampler.condition
        conditions = lambda start, b: data[start : start + b, ..., index]  # noqa: E731
    return draw(sampler, n, BATCH, how, seed, torch.device("cpu"), conditions)  # type: ignore[arg-type]


def score(checkpoint: Path, tensor: Path, n: int, seed: int, binarize: str) -> dict[str, Any]:
    """The measures and verdicts of the data set, the model and an untrained model."""
    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    names = read_track_info(tensor).names
    model = load_sampler(checkpoint)
    data, reference = data_sets(tensor, n, seed, model.condition)
    if model.track_names != names:
        raise SystemExit(f"{checkpoint}: tracks {model.track_names} differ from {tensor}'s {names}")
    sets = {
        "data": data,
        "model": draw_set(model, data, n, binarize, seed),
        "untrained": draw_set(untrained_sampler(checkpoint, seed), data, n, binarize, seed),
    }
    measures = {k: set_measures(v, reference, params.metrics, names, seed) for k, v in sets.items()}
    verdicts = {k: judge(m, measures["data"]) for k, m in measures.items()}
    run = load_checkpoint(checkpoint)["run"]
    return {
        "checkpoint": checkpoint.as_posix(),
        "run": run["name"],
        "width": network_width(run),
        "n_phrases": n,
        "seed": seed,
        "binarize": "model" if model.kind == "binary" else binarize,
        "measures": measures,
        "verdicts": verdicts,
        "passed": {k: passed(v) for k, v in verdicts.items()},
    }


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def table(result: dict[str, Any]) -> str:
    """The result as a Markdown table: one row per measure, pass marks beside the criteria."""
    sets = ("data", "model", "untrained")
    limits = {c.measure: f"{c.op} {c.limit:.3g}" for c in CRITERIA}
    verdict = {s: {v["measure"]: v["passed"] for v in result["verdicts"][s]} for s in sets}
    rows = ["| measure | criterion | data | model | untrained |", "|---|---|---|---|---|"]
    keys = [k for k in result["measures"]["data"] if k != "overlap_area_per_feature"]
    for key in keys:
        if key == "density":
            for track in result["measures"]["data"]["density"]:
                cells = [_cell(result["measures"][s]["density"][track]) for s in sets]
                rows.append(f"| density {track} | | " + " | ".join(cells) + " |")
            continue
        cells = []
        for s in sets:
            mark = "" if key not in limits else (" ✓" if verdict[s][key] else " ✗")
            cells.append(_cell(result["measures"][s][key]) + mark)
        rows.append(f"| {key} | {limits.get(key, '')} | " + " | ".join(cells) + " |")
    marks = ["**pass**" if result["passed"][s] else "**fail**" for s in sets]
    rows.append("| learning score | all criteria | " + " | ".join(marks) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.learning",
        description="Score a checkpoint's phrases beside the training data and an untrained "
        "model of the same networks; exit 0 if it passes every criterion, 1 if not.",
    )
    parser.add_argument("--checkpoint", type=Path, required=True, help="a checkpoint or export")
    parser.add_argument(
        "--tensor",
        type=Path,
        default=Path("outputs/build_tensor/phrases.h5"),
        help="the training phrase file (default: the DAG's, outputs/build_tensor/phrases.h5)",
    )
    parser.add_argument("--n", type=int, default=512, help="phrases per set (default: 512)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every draw (default: 0)")
    parser.add_argument(
        "--binarize",
        choices=["ht", "bs"],
        default="ht",
        help="test-time binarization of a stage-one model (default: ht)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)
    keep_freed_memory()  # glibc: reuse freed blocks instead of page-faulting them in again
    result = score(args.checkpoint, args.tensor, args.n, args.seed, args.binarize)
    print(f"{result['run']} (width {result['width']}), {args.n} phrases, seed {args.seed}")
    print(table(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, default=float) + "\n")
    return 0 if result["passed"]["model"] else 1


if __name__ == "__main__":
    sys.exit(main())
