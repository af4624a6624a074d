"""Stage ``evaluate``: every metric of a phrase file, per track and aggregated, in each mode.

    python -m pipeline.stages.evaluate --params params.yaml --phrases <file.h5> \\
        --metrics <out>/metrics.json

Input: an HDF5 phrase file (the training tensor or a model's samples), read in chunks of
``metrics.chunk_size`` phrases so memory stays bounded. Output: ``metrics.json`` with one block
per mode of ``metrics.modes``, keyed by mode::

    {"paper": {"mode": "paper", "n_phrases": N, "n_bars": 4N,
               "aggregate": {"empty_bar_rate": .., "n_pitches_used": .., "qualified_note_rate": ..,
                             "polyphonicity": .., "in_scale_rate": .., "drum_pattern_rate": ..,
                             "n_chroma_used": .., "tonal_distance": ..},
               "per_track": {"drums": {<the 7 metrics>}, "piano": {...}, ...}},
     "musical": {...same shape...}}

``aggregate`` holds the paper's table numbers (QN = qualified_note_rate, PP = polyphonicity,
TD = tonal_distance; spec 4.3). Undefined values (a metric that does not apply to a track, a track
that never plays, no bar with a defined TD) are JSON ``null``. Written atomically.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from pipeline.config import Metrics
from pipeline.data.labels import DataError
from pipeline.data.phrase_check import iter_checked_chunks, validate_phrase_file
from pipeline.data.phrase_file import read_attrs
from pipeline.io import write_json
from pipeline.metrics.evaluator import PhraseEvaluator
from pipeline.stages.cli import (
    check_outputs,
    exit_on,
    load_or_exit,
    setup_logging,
    stage_parser,
)

log = logging.getLogger(__name__)


def run(cfg: Metrics, phrases_path: str | Path, metrics_path: str | Path) -> dict[str, Any]:
    """Evaluate the phrase file ``phrases_path`` and write ``metrics_path``; return the dict."""
    n_total = validate_phrase_file(phrases_path).n_phrases
    attrs = read_attrs(phrases_path)
    track_names = list(attrs["track_names"])
    drums = [i for i, flag in enumerate(attrs.get("is_drums", [])) if flag]
    if drums and drums != [cfg.drum_track]:
        log.warning(
            "metrics.drum_track is %d but the file marks tracks %s as drums", cfg.drum_track, drums
        )
    evaluator = PhraseEvaluator(
        cfg,
        cfg.modes,
        n_tracks=len(track_names),
        resolution=int(attrs.get("resolution", 24)),
        lowest_pitch=int(attrs.get("lowest_pitch", 24)),
    )
    log.info("evaluating %d phrases of %s in modes %s", n_total, phrases_path, cfg.modes)
    start = time.perf_counter()
    for chunk in iter_checked_chunks(phrases_path, cfg.chunk_size):
        evaluator.add(chunk)
        log.info("  %d / %d phrases", evaluator.n_phrases, n_total)
    elapsed = time.perf_counter() - start
    result = evaluator.result(track_names)
    write_json(metrics_path, result)
    rate = evaluator.n_phrases / elapsed if elapsed > 0 else float("inf")
    log.info("evaluated %d phrases in %.1f s (%.0f phrases/s)", n_total, elapsed, rate)
    for mode, block in result.items():
        means = block["aggregate"]
        log.info(
            "%s: QN %s  PP %s  TD %s",
            mode,
            means["qualified_note_rate"],
            means["polyphonicity"],
            means["tonal_distance"],
        )
    return result


def main(argv: list[str] | None = None) -> None:
    """Command line: ``--params``, ``--phrases``, ``--metrics`` (and ``--log``)."""
    parser = stage_parser(__doc__)
    parser.add_argument(
        "--phrases", required=True, help="the HDF5 phrase file to evaluate; required"
    )
    parser.add_argument(
        "--metrics", required=True, help="the metrics.json to write, one block per mode; required"
    )
    args = parser.parse_args(argv)
    setup_logging(args.log)
    params = load_or_exit(args.params)
    with exit_on(DataError, FileNotFoundError):
        check_outputs(files=(args.metrics,))
        run(params.metrics, args.phrases, args.metrics)


if __name__ == "__main__":
    main()
