"""BinaryMuseGAN's evaluation metrics (paper section 4.2; docs/model.md, section 5), in two modes.

Mode ``paper`` reproduces the original code exactly, quirks included: QN counts notes of at
least 2 steps, PP steps with at least 2 pitches, and the "chroma" behind the in-scale rate, the
chroma-used count and the tonal distance is 12 bands of 8 consecutive semitones. Mode ``musical``
computes what the paper's text says: notes of at least 3 steps, steps with more than two
pitches, a true pitch-class chroma. Both use onset semantics for the drum-in-pattern rate (what
produced the published value; ``drum_semantics: xor`` gives the bool-array variant).

Modules:

* :mod:`~pipeline.metrics.intra_track`, :mod:`~pipeline.metrics.tonal`,
  :mod:`~pipeline.metrics.chroma`: each metric as a pure, vectorised function (the definitions);
* :mod:`~pipeline.metrics.engine`: all metrics of a batch of bars in one fast pass;
* :mod:`~pipeline.metrics.aggregate`: per-track means and the table numbers (docs/model.md,
  section 5.6);
* :mod:`~pipeline.metrics.evaluator`: streaming evaluation of phrases, for stage ``evaluate``
  and for monitoring during training;
* :mod:`~pipeline.metrics.loop_reference`: a per-bar loop implementation, the test oracle.

Mode ``modern`` (docs/metrics.md) adds the per-phrase measures newer papers report
(:mod:`~pipeline.metrics.modern`), the Yang & Lerch overlapped-area distances
(:mod:`~pipeline.metrics.distances`) and their streaming evaluation
(:mod:`~pipeline.metrics.modern_eval`); muspy 0.5.0 is its test oracle.
"""

from pipeline.metrics.aggregate import (
    AGGREGATE_KEYS,
    METRICS,
    Accumulator,
    aggregate,
    as_printed,
    metric_map,
    round_significant,
    table_numbers,
    track_key,
)
from pipeline.metrics.evaluator import (
    PhraseEvaluator,
    evaluate_all_modes,
    evaluate_phrases,
    phrase_table_numbers,
)

__all__ = [
    "AGGREGATE_KEYS",
    "METRICS",
    "Accumulator",
    "PhraseEvaluator",
    "aggregate",
    "as_printed",
    "evaluate_all_modes",
    "evaluate_phrases",
    "metric_map",
    "phrase_table_numbers",
    "round_significant",
    "table_numbers",
    "track_key",
]
