"""Stage ``evaluate``: every metric of a phrase file, per track and aggregated, in each mode.

    python -m pipeline.stages.evaluate --params params.yaml --phrases <file.h5> \\
        --metrics <out>/metrics.json --features <out>/features.json \\
        [--reference-features outputs/evaluate/training_data/features.json]

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
TD = tonal_distance; docs/model.md, section 5.6). Undefined values (a metric that does not apply
to a track, a track that never plays, no bar with a defined TD) are JSON ``null``. Written
atomically.

Mode ``modern`` (when listed in ``metrics.modes``) adds a ``"modern"`` block: per-phrase measures
and the Yang & Lerch distances to the training data (:mod:`pipeline.metrics.modern_eval`,
docs/metrics.md). ``--features`` writes the set's distance features (a seeded subsample; no
features when the mode is off); every set but the training data passes the training data's
file as ``--reference-features``, so the training tensor is read once. Without it the set is
compared with itself.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from pipeline.cli import (
    check_outputs,
    exit_on,
    load_or_exit,
    setup_logging,
    stage_parser,
)
from pipeline.config import Metrics
from pipeline.data.phrase_check import iter_checked_chunks, validate_phrase_file
from pipeline.data.phrase_file import read_attrs
from pipeline.errors import DataError
from pipeline.io import write_json
from pipeline.metrics.evaluator import PhraseEvaluator
from pipeline.metrics.modern_eval import features_document, read_features

log = logging.getLogger(__name__)


def run(
    cfg: Metrics,
    phrases_path: str | Path,
    metrics_path: str | Path,
    features_path: str | Path | None = None,
    reference_path: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate the phrase file ``phrases_path`` and write ``metrics_path`` (and the features
    file ``features_path``); return the metrics. ``reference_path``: the training data's
    features file, read only in mode ``modern``."""
    n_total = validate_phrase_file(phrases_path).n_phrases
    modern = "modern" in cfg.modes
    reference = read_features(reference_path) if modern and reference_path else None
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
    result = evaluator.result(track_names, reference)
    elapsed = time.perf_counter() - start
    write_json(metrics_path, result)
    if features_path is not None:
        write_json(features_path, features_document(evaluator.modern, cfg.modern))
    rate = evaluator.n_phrases / elapsed if elapsed > 0 else float("inf")
    log.info("evaluated %d phrases in %.1f s (%.0f phrases/s)", n_total, elapsed, rate)
    for mode, block in result.items():
        means = block["aggregate"]
        if mode == "modern":
            distances = block["distances"] or {}
            log.info("modern: %s  mean OA %s", means, distances.get("mean_overlap_area"))
            continue
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
    parser.add_argument(
        "--features", help="the features file to write (the training data's, for mode modern)"
    )
    parser.add_argument(
        "--reference-features",
        help="the training data's features file, to compare a sample set with (mode modern)",
    )
    args = parser.parse_args(argv)
    setup_logging(args.log)
    params = load_or_exit(args.params)
    with exit_on(DataError, FileNotFoundError):
        check_outputs(files=tuple(f for f in (args.metrics, args.features) if f))
        run(params.metrics, args.phrases, args.metrics, args.features, args.reference_features)


if __name__ == "__main__":
    main()
