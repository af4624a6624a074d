"""Stage ``sample``: draw phrases from a trained model (paper section 4.1).

See docs/model.md, sections 4.4 (the models) and 5.1 (the protocol).

One run writes one *sample set*: ``phrases.h5`` (the phrase-file layout of
``pipeline.data.phrase_file``), ``grid.png`` (a piano-roll grid, one colour and row per track),
``midi/`` (the first ``sample.n_midi`` phrases as MIDI files) and ``audio/`` (the first
``sample.n_audio`` phrases rendered to FLAC, ``pipeline.export.audio``), to look at and listen to.

Binarization (``--binarize``): ``ht`` or ``bs`` for a stage-one model, ``model`` for a binary
one; z comes from a CPU generator seeded with ``sample.seed`` (``pipeline.sampling``).

The previews' libraries (matplotlib, symusic, soundfile) are imported in ``write_previews`` only,
so that ``run(..., previews=False)`` works where they are not installed (a lent GPU machine,
``benchmarks/gpu_check.py``); the previews of such a set can be drawn later from its phrases.h5.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pipeline.cli import (
    check_outputs,
    exit_on,
    load_or_exit,
    setup_logging,
    stage_parser,
)
from pipeline.config import Sample, as_dict
from pipeline.data.labels import DataError
from pipeline.data.phrase_check import validate_phrase_file
from pipeline.data.phrase_file import (
    PhraseBatch,
    TrackInfo,
    phrase_shape,
    read_attrs,
    read_track_info,
    write_phrase_file,
)
from pipeline.io import atomic_dir
from pipeline.sampling import Binarize, draw_batches
from pipeline.training.checkpoint import load_sampler
from pipeline.training.runner import pick_device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SampleResult:
    n_phrases: int
    density: float  # fraction of active cells, a quick sanity figure for the log


def run(
    cfg: Sample,
    checkpoint: Path,
    tensor: Path,
    how: Binarize,
    out_dir: Path,
    device: torch.device,
    previews: bool = True,
) -> SampleResult:
    """Write one sample set from ``checkpoint`` into ``out_dir`` (``phrases.h5`` alone when
    ``previews`` is false; the stage always writes the previews)."""
    validate_phrase_file(tensor)
    sampler = load_sampler(checkpoint, device)
    if (sampler.kind == "binary") != (how == "model"):
        raise ValueError(
            f"{checkpoint}: a {sampler.kind} model cannot be sampled with --binarize {how} "
            "(stage-one models take ht or bs; binary models take model)"
        )
    n_phrases = cfg.n_phrases_binary if how == "model" else cfg.n_phrases_pretrain
    tracks = read_track_info(tensor)
    attrs = read_attrs(tensor)
    kept: list[np.ndarray] = []  # the first few phrases, for the grid and MIDI files
    n_keep = max(cfg.n_midi, cfg.n_grid, cfg.n_audio)
    active = 0.0

    def batches() -> Iterator[PhraseBatch]:
        nonlocal active
        for phrases in draw_batches(sampler, n_phrases, cfg.batch_size, how, cfg.seed, device):
            active += float(phrases.mean()) * len(phrases)
            if sum(len(k) for k in kept) < n_keep:
                kept.append(phrases)
            n = len(phrases)
            yield PhraseBatch(phrases, [""] * n, [""] * n, [-1] * n)

    write_phrase_file(
        out_dir / "phrases.h5",
        batches(),
        phrase_shape(tensor),
        tracks,
        lowest_pitch=int(attrs["lowest_pitch"]),
        resolution=int(attrs["resolution"]),
        params={"sample": as_dict(cfg), "binarize": how},
        extra_attrs={"source_checkpoint": checkpoint.as_posix()},
    )
    if previews:
        write_previews(out_dir, np.concatenate(kept)[:n_keep], cfg, tracks, attrs)
    result = SampleResult(n_phrases=n_phrases, density=active / max(n_phrases, 1))
    log.info("%s: %d phrases (%s), %.4f of cells active", out_dir, n_phrases, how, result.density)
    return result


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


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument(
        "--checkpoint", type=Path, required=True, help="the trained model's checkpoint; required"
    )
    parser.add_argument(
        "--tensor",
        type=Path,
        required=True,
        help="the training phrase file, read for its track names and programs; required",
    )
    parser.add_argument(
        "--binarize",
        choices=["ht", "bs", "model"],
        required=True,
        help="ht: threshold > 0.5, bs: Bernoulli sampling (both for stage-one models), "
        "model: the model's own binary output; required",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        required=True,
        help="where phrases.h5, grid.png, midi/ and audio/ go; required",
    )
    args = parser.parse_args(argv)
    setup_logging(args.log)
    params = load_or_exit(args.params)
    device = pick_device(params.optim.device)
    with exit_on(DataError, FileNotFoundError):
        check_outputs(folders=(args.out_dir,))
        run(params.sample, args.checkpoint, args.tensor, args.binarize, args.out_dir, device)


if __name__ == "__main__":
    main()
