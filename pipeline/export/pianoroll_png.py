"""A piano-roll image grid of phrases, laid out and coloured like the paper's sample figures.

One row per track (labelled), one column per phrase; each cell shows the phrase's four bars
left to right (time) with pitch upwards and thin lines at the bar boundaries. As in the paper's
figures (Dong & Yang 2018, Figs. 5-8), every track has its own colour, so a glance tells which
instrument plays where.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: figures only go to files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402

from pipeline.io import atomic_path  # noqa: E402

# One colour per track, in track order (bmusegan8: Dr, Pi, Gu, Ba, En, Re, SL, SP); reused
# cyclically for larger track sets.
TRACK_COLOURS = [
    "#d62728",  # red
    "#1f77b4",  # blue
    "#2ca02c",  # green
    "#9467bd",  # purple
    "#ff7f0e",  # orange
    "#8c564b",  # brown
    "#e377c2",  # pink
    "#17becf",  # cyan
]


LABEL_INCHES = 1.0  # room left of the grid for the longest bmusegan8 label, "Synth Lead"


def track_colour(index: int) -> tuple[float, float, float]:
    """The RGB colour of track ``index``."""
    return to_rgb(TRACK_COLOURS[index % len(TRACK_COLOURS)])


def coloured_roll(roll: np.ndarray, colour: tuple[float, float, float]) -> np.ndarray:
    """A bool (pitches, time) roll as an RGB image: active cells in ``colour``, the rest white."""
    image = np.ones((*roll.shape, 3))
    image[roll.astype(bool)] = colour
    return image


def plot_phrase_grid(path: str | Path, phrases: np.ndarray, track_names: list[str]) -> None:
    """Save ``phrases`` (n, bars, steps, pitches, tracks) as a PNG grid at ``path``."""
    n, n_bars, n_steps, n_pitches, n_tracks = phrases.shape
    width = 2.6 * n + LABEL_INCHES + 0.1
    fig, axes = plt.subplots(n_tracks, n, figsize=(width, 0.75 * n_tracks + 0.4), squeeze=False)
    for col in range(n):
        for row in range(n_tracks):
            ax = axes[row, col]
            # (bars, steps, pitches) -> (pitches, bars * steps): time on x, pitch upwards
            roll = phrases[col, ..., row].reshape(n_bars * n_steps, n_pitches).T
            colour = track_colour(row)
            ax.imshow(
                coloured_roll(roll, colour),
                aspect="auto",
                origin="lower",
                interpolation="nearest",
            )
            for bar in range(1, n_bars):
                ax.axvline(bar * n_steps - 0.5, color="0.6", linewidth=0.4)
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(
                    track_names[row],
                    rotation=0,
                    ha="right",
                    va="center",
                    fontsize=8,
                    color=colour,
                )
        axes[0, col].set_title(f"sample {col}", fontsize=8)
    left = LABEL_INCHES / width  # the same room for the labels whatever the number of columns
    fig.subplots_adjust(left=left, right=0.99, top=0.93, bottom=0.02, wspace=0.05, hspace=0.08)
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
