"""Evaluate phrases in both metric modes, streaming: what stage ``evaluate`` and training call.

One pass computes the shared bar statistics (:func:`pipeline.metrics.engine.bar_statistics`);
each mode then derives its per-bar values and adds them to its own :class:`Accumulator`. A
mode's result has the shape of one block of ``metrics.json``::

    {"mode": "paper", "n_phrases": N, "n_bars": 4N,
     "aggregate": {"empty_bar_rate": .., ..., "tonal_distance": ..},
     "per_track": {"drums": {"empty_bar_rate": .., ...}, "piano": {...}, ...}}

with ``None`` for undefined values (NaN).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pipeline.config import MetricMode, Metrics
from pipeline.metrics.aggregate import Accumulator, mode_block, table_numbers
from pipeline.metrics.engine import bar_scores, bar_statistics
from pipeline.metrics.modern import phrase_statistics
from pipeline.metrics.modern_eval import Features, ModernAccumulator, modern_block


def mode_settings(cfg: Metrics, mode: str) -> MetricMode:
    """The :class:`MetricMode` of ``mode`` ("paper" or "musical")."""
    if mode not in ("paper", "musical"):
        raise ValueError(f"unknown metric mode {mode!r}")
    return cfg.paper if mode == "paper" else cfg.musical


def _available_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _as_array(phrases: Any) -> NDArray:
    """A NumPy view of ``phrases`` (a NumPy array or a torch tensor)."""
    if hasattr(phrases, "detach"):
        phrases = phrases.detach().cpu().numpy()
    return np.asarray(phrases)


class PhraseEvaluator:
    """Accumulates the metrics of phrases added chunk by chunk, for several modes at once.

    Parameters
    ----------
    cfg : Metrics
        Thresholds, radii, scale, drum filter and track pair (``params.yaml``, ``metrics``).
    modes : sequence of str
        Modes to compute, e.g. ``["paper", "musical"]``; ``"modern"`` adds the per-phrase
        measures and distance features of :mod:`pipeline.metrics.modern_eval`.
    n_tracks : int
        Tracks per phrase (8 for the paper's tensor).
    resolution : int
        Steps per beat (the phrase file's ``resolution`` attribute, 24).
    lowest_pitch : int
        MIDI number of pitch index 0 (the file's ``lowest_pitch``, 24); used by pitch-class chroma.
    threads : int, optional
        Threads for large chunks (default: up to 2, the CPUs available). Results do not depend
        on it.
    """

    def __init__(
        self,
        cfg: Metrics,
        modes: Sequence[str],
        n_tracks: int,
        resolution: int = 24,
        lowest_pitch: int = 24,
        threads: int | None = None,
    ) -> None:
        for track in (*cfg.tonal_pair, cfg.drum_track):
            if not 0 <= track < n_tracks:
                raise ValueError(f"metrics track index {track} out of range for {n_tracks} tracks")
        self.cfg = cfg
        self.modes = list(modes)
        self.bar_modes = [mode for mode in self.modes if mode != "modern"]
        self.settings = {mode: mode_settings(cfg, mode) for mode in self.bar_modes}
        self.resolution = resolution
        self.lowest_pitch = lowest_pitch
        self.n_tracks = n_tracks
        self.n_phrases = 0
        self.accumulators = {mode: Accumulator(n_tracks) for mode in self.bar_modes}
        self.modern = (
            ModernAccumulator(n_tracks, cfg.drum_track) if "modern" in self.modes else None
        )
        self.max_window = max(
            (s.qualified_min_steps + 1 for s in self.settings.values()), default=2
        )
        self.threads = threads if threads is not None else min(2, _available_cpus())

    def add(self, phrases: Any) -> None:
        """Add phrases (n, bars, steps, pitches, tracks); any non-zero entry is an active cell."""
        x = _as_array(phrases)
        if x.ndim != 5 or x.shape[-1] != self.n_tracks:
            raise ValueError(
                f"phrases must be (n, bars, steps, pitches, {self.n_tracks}), got {x.shape}"
            )
        if self.modern is not None:
            self.modern.add(phrase_statistics(x, self.resolution, self.lowest_pitch))
        if self.bar_modes:
            self._add_bars(x.reshape(-1, *x.shape[2:]))  # (n * bars, steps, pitches, tracks)
        self.n_phrases += x.shape[0]

    def _add_bars(self, bars: NDArray) -> None:
        """Add the per-bar values of the 2018 modes."""
        threads = self.threads if len(bars) >= 256 else 1  # small batches: not worth a thread
        stats = bar_statistics(bars, self.max_window, self.resolution, threads=threads)

        def score(mode: str) -> tuple[Any, Any]:
            return bar_scores(stats, self.settings[mode], self.cfg, self.lowest_pitch)

        if threads > 1 and len(self.bar_modes) > 1:
            with ThreadPoolExecutor(threads) as pool:
                results = list(pool.map(score, self.bar_modes))
        else:
            results = [score(mode) for mode in self.bar_modes]
        for mode, (scores, tonal) in zip(self.bar_modes, results, strict=True):
            self.accumulators[mode].add(scores, tonal)

    def add_chunks(self, chunks: Iterable[Any]) -> None:
        """Add every chunk of an iterable (e.g. ``iter_phrase_chunks``)."""
        for chunk in chunks:
            self.add(chunk)

    def result(
        self, track_names: Sequence[str], reference: Features | None = None
    ) -> dict[str, dict[str, Any]]:
        """``{mode: block}`` for every mode (see the module docstring).

        ``reference``: the training data's distance features (mode ``modern``); None compares
        the phrases with a disjoint subsample of themselves.
        """
        if len(track_names) != self.n_tracks:
            raise ValueError(f"{len(track_names)} track names for {self.n_tracks} tracks")
        blocks = {
            mode: mode_block(acc, mode, self.n_phrases, list(track_names), self.cfg.drum_track)
            for mode, acc in self.accumulators.items()
        }
        if self.modern is not None:
            blocks["modern"] = modern_block(
                self.modern, self.cfg.modern, list(track_names), reference
            )
        return blocks

    def table_numbers(self, mode: str) -> dict[str, float]:
        """QN, PP and TD (NaN where undefined) of one mode so far."""
        acc = self.accumulators[mode]
        return table_numbers(acc.score_matrix_mean(), acc.tonal_distance(), self.cfg.drum_track)


def evaluate_phrases(
    phrases: Any,
    cfg: Metrics,
    mode: str,
    track_names: Sequence[str],
    resolution: int = 24,
    lowest_pitch: int = 24,
) -> dict[str, Any]:
    """All metrics of ``phrases`` (N, bars, steps, pitches, tracks) in one mode.

    ``phrases`` is a bool NumPy array or torch tensor (any non-zero entry is active; binarise
    probabilities first). Returns the mode's ``metrics.json`` block (NaN as ``None``).
    """
    evaluator = PhraseEvaluator(cfg, [mode], len(track_names), resolution, lowest_pitch)
    evaluator.add(phrases)
    return evaluator.result(track_names)[mode]


def evaluate_all_modes(
    phrases: Any,
    cfg: Metrics,
    track_names: Sequence[str],
    resolution: int = 24,
    lowest_pitch: int = 24,
) -> dict[str, dict[str, Any]]:
    """``{mode: block}`` for every mode in ``cfg.modes``, sharing one pass over the phrases."""
    evaluator = PhraseEvaluator(cfg, cfg.modes, len(track_names), resolution, lowest_pitch)
    evaluator.add(phrases)
    return evaluator.result(track_names)


def phrase_table_numbers(
    phrases: Any, cfg: Metrics, mode: str = "paper", resolution: int = 24, lowest_pitch: int = 24
) -> dict[str, float]:
    """Just the paper's table numbers ``{"QN", "PP", "TD"}`` of ``phrases`` in one mode.

    For monitoring a fixed batch during training: one call costs about 20 microseconds per bar
    on one CPU core. Values are floats, NaN where undefined (e.g. TD when piano or guitar never
    sounds in all four beats of a bar).
    """
    x = _as_array(phrases)
    evaluator = PhraseEvaluator(cfg, [mode], x.shape[-1], resolution, lowest_pitch)
    evaluator.add(x)
    return evaluator.table_numbers(mode)
