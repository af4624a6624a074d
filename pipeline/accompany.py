"""Accompany your own MIDI file: a track-conditional model writes the other tracks of your song.

    python -m pipeline.accompany --midi my_song.mid --list
    python -m pipeline.accompany \\
        --checkpoint models/conditional_proposed_cpu.pt \\
        --midi my_song.mid --out my_song_out/ [--part 2] [--seed 0]

1. The file is read within bounds, its meter checked and its given part chosen
   (``pipeline.accompany_input``): ``--part`` names instruments by index, name or program;
   by default the instruments that the model's track set puts on its given track.
2. The given part, binarized, pitches MIDI 24-107 (``build_tensor``'s range; notes outside it
   are not seen by the model but stay in the output file), is cut into consecutive four-bar
   phrases from the first bar line; the last, partial phrase is padded with silence.
3. The model generates the other tracks phrase by phrase, z drawn from ``--seed``.
4. Written to ``--out`` (``pipeline.accompany_output``): ``<name>.mid`` (the given part as in
   the input, plus one instrument per generated track), ``<name>.flac`` (that MIDI file played
   with the General MIDI SoundFont) and ``<name>.png`` (the first ``--png-phrases`` phrases).
   Each file is written atomically, after every check has passed.

Every bad input ends with one line naming the file and the problem, exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import numpy as np
import torch

from pipeline.accompany_input import (
    N_PITCHES,
    AccompanyError,
    Limits,
    check_start,
    convert_song,
    describe,
    instrument_table,
    part_roll,
    read_song,
    select_part,
)
from pipeline.accompany_output import midi_bytes, output_midi, render_midi
from pipeline.data.song import STEPS_PER_BAR
from pipeline.data.tracks import track_set_named_by
from pipeline.errors import DataError
from pipeline.export.audio import write_audio
from pipeline.export.pianoroll_png import plot_phrase_grid
from pipeline.io import OutputPathError, atomic_path
from pipeline.sampling import draw
from pipeline.training.checkpoint import Sampler, load_checkpoint, load_sampler
from pipeline.training.device import pick_device

log = logging.getLogger(__name__)

N_BARS = 4
PHRASE_STEPS = N_BARS * STEPS_PER_BAR  # 384 steps of 1/24 beat


def check_out_dir(out_dir: Path, midi: Path) -> None:
    """Refuse an ``--out`` folder that cannot be made or written, before any work is done (the
    folder itself is made only when the first file is written, so a refusal leaves nothing)."""
    if (out_dir / f"{midi.stem}.mid").resolve() == midi.resolve():
        raise AccompanyError(f"{midi}: --out {out_dir} would overwrite the input file")
    existing = out_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "--out is a file" if existing == out_dir else f"{existing} is a file"
        raise AccompanyError(f"{out_dir}: {what}; it must be a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise AccompanyError(f"{out_dir}: cannot write in {existing} (permission denied)")


def load_conditional(path: Path, track: str | None, device: torch.device) -> Sampler:
    """The sampler of a track-conditional checkpoint; ``track``, if given, must name its given
    track (case ignored)."""
    ckpt = load_checkpoint(path)
    given = ckpt["run"].get("condition_track")
    if given is None:
        raise AccompanyError(
            f"{path}: an unconditional model ({ckpt['run']['name']}); accompany needs a "
            "track-conditional one (docs/accompany.md)"
        )
    if track is not None and track.strip().lower() != given.lower():
        raise AccompanyError(f"{path}: the model is conditional on {given!r}, not {track!r}")
    return load_sampler(path, device)


def phrases_of(roll: np.ndarray) -> np.ndarray:
    """(length, 84) -> (n, 4, 96, 84): four-bar phrases from step 0, the last padded."""
    n = -(-len(roll) // PHRASE_STEPS)
    padded = np.zeros((n * PHRASE_STEPS, roll.shape[1]), dtype=bool)
    padded[: len(roll)] = roll
    return padded.reshape(n, N_BARS, STEPS_PER_BAR, roll.shape[1])


def generate(sampler: Sampler, conditions: np.ndarray, seed: int, batch: int = 16) -> np.ndarray:
    """Bool phrases (n, 4, 96, 84, T) for the given-track phrases ``conditions``."""
    device = next(sampler.parameters()).device
    given = lambda start, n: conditions[start : start + n]  # noqa: E731
    return draw(sampler, len(conditions), batch, "model", seed, device, given)


def accompany(
    checkpoint: Path,
    midi: Path,
    out_dir: Path,
    seed: int = 0,
    parts: list[str] | None = None,
    track: str | None = None,
    png_phrases: int = 4,
    device: torch.device | None = None,
    limits: Limits | None = None,
) -> dict:
    """Write the accompanied MIDI, audio and piano-roll of ``midi`` into ``out_dir``.

    Every check comes before the first file is written; a refusal raises ``AccompanyError``
    (or the checkpoint's ``CheckpointError``), naming the file.
    """
    stem = midi.stem
    check_out_dir(out_dir, midi)
    sampler = load_conditional(checkpoint, track, device or torch.device("cpu"))
    tracks = track_set_named_by(sampler.track_names, checkpoint)
    index = sampler.condition
    assert index is not None and sampler.condition_track is not None
    pm = read_song(midi, limits or Limits())
    chosen = select_part(pm, parts or [], tracks, index, midi)
    check_start(pm, chosen, midi)
    part = part_roll(convert_song(pm, midi), chosen, midi)
    phrases = generate(sampler, phrases_of(part.roll), seed)
    song_roll = phrases.reshape(-1, N_PITCHES, phrases.shape[-1])[: part.length]
    data = midi_bytes(output_midi(pm, part, song_roll, tracks.info, index), pm, len(chosen))
    audio = render_midi(data)
    with atomic_path(out_dir / f"{stem}.mid") as tmp:
        tmp.write_bytes(data)
    write_audio(out_dir / f"{stem}.flac", audio)
    plot_phrase_grid(out_dir / f"{stem}.png", phrases[:png_phrases], tracks.info.names)
    given = ", ".join(describe(pm, i) for i in chosen)
    log.info(
        "%s: %d phrases accompanied into %s; given part %s as the model's %s track",
        midi,
        len(phrases),
        out_dir,
        given,
        sampler.condition_track,
    )
    return {"phrases": len(phrases), "steps": part.length, "given": chosen}


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr, exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message} (see --help)\n")


def count(minimum: float, kind: type = int):
    """An argparse ``type``: a number of ``kind`` that is at least ``minimum``."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text} is below {minimum}")
        return value

    return parse


DESCRIPTION = """\
Accompany your own MIDI file: a track-conditional model (docs/accompany.md shows how to train
one) writes the other tracks of your song around one part of it, four bars at a time.

Written to --out, named after the MIDI file:
  NAME.mid   the given part exactly as in your file (notes, velocities, controllers, tempo map),
             plus one instrument per generated track, timed on your file's beats
  NAME.flac  that MIDI file played with the General MIDI SoundFont
  NAME.png   piano-rolls of the first --png-phrases four-bar phrases
"""

EPILOG = """\
examples:
  python -m pipeline.accompany --midi song.mid --list
  python -m pipeline.accompany --checkpoint models/conditional_proposed_cpu.pt \\
      --midi song.mid --out song_out/
  ... --part 2            the instrument --list shows as 2
  ... --part "Lead"       every instrument named Lead (case ignored)
  ... --part program:29   every pitched instrument of GM program 29 (programs count from 0)

The file must be in 4/4: every time-signature event 4/4 (a file without any is 4/4, as the MIDI
standard says). Bars are counted from the first time signature, which must not come after the
given part's first note. The model sees the given part's pitches MIDI 24-107, binarized.

A bad input (a missing, unreadable or too large file, another meter, no given part, a model that
is not track-conditional, an unknown device, ...) is refused with one line naming the file and
the problem, exit status 2, and nothing is written.
"""


def parser() -> Parser:
    p = Parser(
        prog="python -m pipeline.accompany",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--checkpoint",
        type=Path,
        help="a track-conditional model (stage one, stage two or end-to-end); required unless "
        "--list",
    )
    p.add_argument("--midi", type=Path, required=True, help="your MIDI file (.mid)")
    p.add_argument(
        "--out",
        type=Path,
        help="output folder, made if needed; files of the same names in it are replaced; "
        "required unless --list",
    )
    p.add_argument(
        "--part",
        action="append",
        metavar="PART",
        help="the given part: an instrument's index as --list prints it, its name (case "
        "ignored; every instrument of that name) or program:N (every pitched instrument of GM "
        "program N, 0-127). Repeat it for several instruments. Any pitched instrument may be "
        "given to a model of a pitched track, drums only to one of a drum track. Default: the "
        "instruments that the model's track set puts on its given track (for Piano, GM "
        "programs 0-7)",
    )
    p.add_argument(
        "--track",
        metavar="NAME",
        help="the model's given track, as a check (case ignored): a checkpoint conditional on "
        "another track is refused. Default: whichever the checkpoint has",
    )
    p.add_argument(
        "--list",
        action="store_true",
        help="print the file's instruments (index, name, program, notes, pitch range) and stop; "
        "needs only --midi",
    )
    p.add_argument(
        "--seed",
        type=count(0),
        default=0,
        help="seed of the model's random input: each four-bar phrase gets its own z, all drawn "
        "from it. The same seed, checkpoint, file and device give the same MIDI file byte for "
        "byte; another seed gives another accompaniment (default 0)",
    )
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="where the model runs: auto is CUDA when present, else the CPU (default auto). The "
        "random input is drawn on the CPU either way, but an SBN model's noise comes from the "
        "device: its music then differs between CPU and CUDA",
    )
    p.add_argument(
        "--png-phrases",
        type=count(1),
        default=4,
        metavar="N",
        help="four-bar phrases shown in the PNG (default 4)",
    )
    limits = Limits()
    p.add_argument(
        "--max-bytes",
        type=count(1),
        default=limits.max_bytes,
        metavar="N",
        help=f"refuse a file over N bytes before reading it (default {limits.max_bytes})",
    )
    p.add_argument(
        "--max-minutes",
        type=count(0.01, float),
        default=limits.max_minutes,
        metavar="M",
        help="refuse a song longer than M minutes; the audio, rendered in memory, takes about "
        f"20 MB a minute (default {limits.max_minutes:g})",
    )
    p.add_argument(
        "--max-bars",
        type=count(1),
        default=limits.max_bars,
        metavar="N",
        help="refuse a song longer than N bars, estimated from its tempo map before any beat "
        f"is computed (default {limits.max_bars})",
    )
    return p


def refuse(message: str) -> None:
    """End with ``message`` as one line on stderr and exit status 2."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def list_instruments(midi: Path, limits: Limits) -> None:
    """Print the instruments of ``midi``, one a line, as ``--part`` numbers them."""
    pm = read_song(midi, limits)
    print(f"{midi}: {len(pm.instruments)} instruments (index, name, program or drums)")
    for line in instrument_table(pm):
        print(f"  {line}")


def main(argv: list[str] | None = None) -> None:
    p = parser()
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not args.midi.is_file():
        refuse(f"{args.midi}: MIDI file not found")
    limits = Limits(args.max_bytes, args.max_minutes, args.max_bars)
    if args.list:
        try:
            list_instruments(args.midi, limits)
        except DataError as error:
            refuse(str(error))
        return
    if args.checkpoint is None or args.out is None:
        p.error("--checkpoint and --out are required unless --list")
    try:
        device = pick_device(args.device)
    except RuntimeError:
        refuse(f"--device {args.device}: no CUDA device is available")
    try:
        accompany(
            args.checkpoint,
            args.midi,
            args.out,
            args.seed,
            args.part,
            args.track,
            args.png_phrases,
            device,
            limits,
        )
    except DataError as error:
        refuse(str(error))
    except OutputPathError as error:
        refuse(str(error.strerror))
    except OSError as error:  # a folder that cannot be made, a full disk: named, not a traceback
        refuse(f"{error.filename or args.out}: {error.strerror or error}")


if __name__ == "__main__":
    main()
