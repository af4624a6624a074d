"""Drawing phrases from a trained model: the one sampling loop (paper section 4.1).

Used by stage ``sample`` (and its conditional variant), ``pipeline.generate``,
``pipeline.accompany`` and the learning score (``benchmarks/learning.py``). A *sample set* is what
``write_sample_set`` makes of the drawn phrases: ``phrases.h5`` (the layout of
``pipeline.data.phrase_file``) and the previews of its first phrases (``write_previews``: a
piano-roll grid, MIDI files and audio).

z comes from a generator seeded with ``seed`` on the CPU, batch after batch, so the z of every
phrase depends on the seed and its position alone: the HT and BS sets of one stage-one model see
exactly the same z and hence the same raw outputs, as in the original evaluation
(analysis/eval_gan.py), and the draws do not depend on the device. The Bernoulli noise of test-time
sampling comes from a second CPU generator (``seed + 1``); the noise of an SBN model's binary
neurons from the global CPU generator, seeded with ``seed`` (``use_cpu_noise``: on CUDA too, so a
GPU draws the same noise as the CPU). No random number of a sample set depends on the device; the
phrases can still differ between devices in the rare cell whose value lies within float rounding of
its threshold, since the forward pass rounds differently there.

Binarization (``how``):

- ``ht``: test-time hard thresholding of a stage-one generator's sigmoid output, x > 0.5 (strict).
- ``bs``: test-time Bernoulli sampling of the same output, 1 iff u < x with u ~ U[0, 1).
- ``model``: the binary output of a refiner or end-to-end model as it is (SBNs stay stochastic at
  test time, as in the original).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from pipeline.config import Sample, as_dict
from pipeline.data.phrase_file import (
    PhraseBatch,
    TrackInfo,
    phrase_shape,
    read_attrs,
    read_track_info,
    write_phrase_file,
)
from pipeline.io import atomic_dir
from pipeline.models.binary import use_cpu_noise
from pipeline.training.checkpoint import Sampler

Binarize = Literal["ht", "bs", "model"]
# (first phrase index, count) -> the given track of those phrases, (count, 4, 96, 84) bool
Conditions = Callable[[int, int], np.ndarray]


def binarize(raw: torch.Tensor, how: Binarize, rng: torch.Generator) -> torch.Tensor:
    """Turn a batch of generator outputs into booleans the way ``how`` says (module doc)."""
    if how == "ht":
        return raw > 0.5
    if how == "bs":
        u = torch.rand(raw.shape, generator=rng).to(raw.device)
        return u < raw
    return raw > 0.5  # already {0, 1}: only the dtype changes


def draw_batches(
    sampler: Sampler,
    n_phrases: int,
    batch_size: int,
    how: Binarize,
    seed: int,
    device: torch.device,
    conditions: Conditions | None = None,
) -> Iterator[np.ndarray]:
    """Yield bool phrase batches (b, bars, steps, pitches, tracks) from ``sampler``.

    A track-conditional sampler needs ``conditions``: the given track of each batch's phrases.
    """
    if (getattr(sampler, "condition", None) is None) != (conditions is None):
        raise ValueError(f"{sampler.name}: conditions go with a track-conditional model only")
    z_rng = torch.Generator().manual_seed(seed)
    noise_rng = torch.Generator().manual_seed(seed + 1)
    torch.manual_seed(seed)  # the SBN noise inside the model: the global CPU generator
    if isinstance(sampler, nn.Module):
        use_cpu_noise(sampler)  # on CUDA too (module docstring); on the CPU the same bytes
    for start in range(0, n_phrases, batch_size):
        b = min(batch_size, n_phrases - start)
        z = torch.randn(b, sampler.z_dim, generator=z_rng).to(device)
        with torch.no_grad():
            if conditions is None:
                raw = sampler(z)
            else:
                given = torch.from_numpy(np.asarray(conditions(start, b))).float()
                raw = sampler(z, given.to(device))
        raw = raw.float().cpu()
        yield binarize(raw, how, noise_rng).numpy()


def draw(
    sampler: Sampler,
    n_phrases: int,
    batch_size: int,
    how: Binarize,
    seed: int,
    device: torch.device,
    conditions: Conditions | None = None,
) -> np.ndarray:
    """All of ``draw_batches`` as one bool array (n_phrases, bars, steps, pitches, tracks)."""
    batches = draw_batches(sampler, n_phrases, batch_size, how, seed, device, conditions)
    return np.concatenate(list(batches))


def write_sample_set(
    out_dir: Path,
    batches: Iterable[np.ndarray],
    cfg: Sample,
    tensor: Path,
    how: Binarize,
    extra_attrs: dict[str, Any],
    previews: bool = True,
) -> tuple[int, float]:
    """Write the drawn ``batches`` as ``out_dir/phrases.h5`` with the training ``tensor``'s track
    set, pitch range and resolution, then (``previews``) the previews of the first phrases.
    Return the number of phrases and the fraction of active cells.

    The previews' libraries (matplotlib, symusic, soundfile) are imported only when previews are
    written, so ``previews=False`` works where they are not installed.
    """
    tracks, attrs = read_track_info(tensor), read_attrs(tensor)
    n_keep = max(cfg.n_midi, cfg.n_grid, cfg.n_audio)
    kept: list[np.ndarray] = []  # the first phrases, for the previews
    active = 0.0

    def phrase_batches() -> Iterator[PhraseBatch]:
        nonlocal active
        for phrases in batches:
            active += float(phrases.mean()) * len(phrases)
            if sum(len(k) for k in kept) < n_keep:
                kept.append(phrases)
            n = len(phrases)
            yield PhraseBatch(phrases, [""] * n, [""] * n, [-1] * n)

    n = write_phrase_file(
        out_dir / "phrases.h5",
        phrase_batches(),
        phrase_shape(tensor),
        tracks,
        lowest_pitch=int(attrs["lowest_pitch"]),
        resolution=int(attrs["resolution"]),
        params={"sample": as_dict(cfg), "binarize": how},
        extra_attrs=extra_attrs,
    )
    if previews and kept:
        write_previews(out_dir, np.concatenate(kept)[:n_keep], cfg, tracks, attrs)
    return n, active / max(n, 1)


def write_previews(
    out_dir: Path, first: np.ndarray, cfg: Sample, tracks: TrackInfo, attrs: dict
) -> None:
    """The PNG grid, the MIDI files and the audio of the first phrases of a sample set."""
    from pipeline.export.audio import write_audio_files  # symusic, soundfile: imported here only
    from pipeline.export.midi import write_midi
    from pipeline.export.pianoroll_png import plot_phrase_grid

    plot_phrase_grid(out_dir / "grid.png", first[: cfg.n_grid], tracks.names)
    lowest, resolution = int(attrs["lowest_pitch"]), int(attrs["resolution"])
    with atomic_dir(out_dir / "midi") as midi_dir:
        for i, phrase in enumerate(first[: cfg.n_midi]):
            path = midi_dir / f"sample_{i:03d}.mid"
            write_midi(path, phrase, tracks, lowest, resolution, cfg.tempo)
    audio = first[: cfg.n_audio]
    with atomic_dir(out_dir / "audio") as audio_dir:
        write_audio_files(audio_dir, audio, tracks, lowest, resolution, cfg.tempo)
