"""The piano-roll grid is in colour, one colour per track (pipeline/export/pianoroll_png.py)."""

from __future__ import annotations

import matplotlib.image
import numpy as np

from pipeline.export.pianoroll_png import plot_phrase_grid, track_colour


def test_each_track_is_drawn_in_its_own_colour(tmp_path):
    phrases = np.zeros((1, 4, 96, 84, 3), dtype=bool)
    phrases[0, :, :, 20:60, :] = True  # a big block in every track
    path = tmp_path / "grid.png"
    plot_phrase_grid(path, phrases, ["Drums", "Piano", "Guitar"])
    pixels = matplotlib.image.imread(path)[..., :3].reshape(-1, 3)
    for t in range(3):
        colour = np.array(track_colour(t))
        assert (np.abs(pixels - colour).max(axis=1) < 0.02).sum() > 500, t
    assert len({track_colour(t) for t in range(8)}) == 8


def test_the_longest_track_label_fits_in_the_image(tmp_path):
    # a clipped label would touch the image's left edge ("ynth Lead" did with one column)
    names = ["Drums", "Piano", "Guitar", "Bass", "Ensemble", "Reed", "Synth Lead", "Synth Pad"]
    for n in (1, 2, 6):
        path = tmp_path / f"grid{n}.png"
        plot_phrase_grid(path, np.zeros((n, 4, 96, 84, 8), dtype=bool), names)
        left_edge = matplotlib.image.imread(path)[:, :3, :3]
        assert left_edge.min() > 0.99, n  # white: nothing drawn there
