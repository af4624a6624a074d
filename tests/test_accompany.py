"""``python -m pipeline.accompany``: a real MIDI file accompanied, and each bad input refused."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import mido
import numpy as np
import pytest

from pipeline import accompany
from pipeline.config import Params
from pipeline.data.midi import convert, read_midi
from pipeline.data.phrase_file import PhraseBatch, write_phrase_file
from pipeline.data.tracks import get_track_set
from pipeline.stages import pretrain
from pipeline.training.checkpoint import load_checkpoint, save_checkpoint
from tests.conftest import DATA
from tests.training.conftest import tiny_params

BMUSEGAN8 = get_track_set("bmusegan8")
PIANO = BMUSEGAN8.info.names.index("Piano")
SONG = DATA / "midi" / "Mr. Blue Sky.mid"  # 4/4 at 0, a piano (program 0) among 9 instruments


@pytest.fixture(scope="module")
def model(tmp_path_factory, params: Params) -> Path:
    """A conditional (Piano) stage-one checkpoint on two random bmusegan8 phrases, 1 iteration."""
    root = tmp_path_factory.mktemp("acc_model")
    rng = np.random.default_rng(0)
    phrases = rng.random((2, 4, 96, 84, 8)) < 0.01
    tensor = root / "phrases.h5"
    batch = PhraseBatch(phrases, [""] * 2, [""] * 2, [-1] * 2)
    write_phrase_file(tensor, [batch], phrases.shape[1:], BMUSEGAN8.info, 24, 24, {})
    p = tiny_params(params)
    p = dataclasses.replace(p, pretrain=dataclasses.replace(p.pretrain, n_iterations=1))
    pretrain.run(p, "proposed", tensor, root / "out", root / "snap", condition_track="Piano")
    return root / "out" / "checkpoint.pt"


def _given_rolls(path: Path, length: int) -> list[np.ndarray]:
    """Velocity rolls (length, 128) of the instruments of ``path`` on the Piano track."""
    song = convert(read_midi(path))
    rolls = [
        song.dense_track(i)
        for i, t in enumerate(song.tracks)
        if BMUSEGAN8.track_of(t.program, t.is_drum) == PIANO
    ]
    for roll in rolls:  # anything past the input's length must be silent
        assert not roll[length:].any()
    return [roll[:length] for roll in rolls]


def test_real_song_is_accompanied(tmp_path, model) -> None:
    out = tmp_path / "out"
    accompany.main(
        ["--checkpoint", str(model), "--midi", str(SONG), "--track", "Piano"]
        + ["--out", str(out), "--seed", "3"]
    )
    midi, flac, png = (out / f"Mr. Blue Sky{s}" for s in (".mid", ".flac", ".png"))
    assert midi.stat().st_size > 0 and flac.stat().st_size > 0 and png.stat().st_size > 0
    length = convert(read_midi(SONG)).length
    want, got = _given_rolls(SONG, length), _given_rolls(midi, length)
    assert len(want) == len(got) == 1
    assert np.array_equal(want[0], got[0])  # cell for cell, velocities included
    assert want[0].max() > 1  # real velocities, not a binarized copy
    # one MIDI track per generated track (pretty_midi drops those an untrained model left empty)
    names = [t.name for t in mido.MidiFile(midi).tracks]
    assert names[-7:] == [n for n in BMUSEGAN8.info.names if n != "Piano"]
    # the same seed gives the same file; another seed another accompaniment
    accompany.main(
        [
            "--checkpoint",
            str(model),
            "--midi",
            str(SONG),
            "--out",
            str(tmp_path / "again"),
            "--seed",
            "3",
        ]
    )
    assert (tmp_path / "again" / midi.name).read_bytes() == midi.read_bytes()


def _refused(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        accompany.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    return err[0]


def _write_midi(path: Path, program: int, pitch: int, numerator: int = 4) -> Path:
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("time_signature", numerator=numerator, denominator=4, time=0))
    track.append(mido.Message("program_change", program=program, time=0))
    track.append(mido.Message("note_on", note=pitch, velocity=90, time=0))
    track.append(mido.Message("note_off", note=pitch, velocity=0, time=480 * 20))
    mid.save(path)
    return path


def test_file_without_the_track(capsys, tmp_path, model) -> None:
    song = DATA / "midi" / "I Gotta Feeling.mid"  # 4/4, guitar, ensembles, drums: no piano
    line = _refused(
        capsys, ["--checkpoint", str(model), "--midi", str(song), "--out", str(tmp_path)]
    )
    assert str(song) in line and "no Piano track" in line


def test_empty_track(capsys, tmp_path, model) -> None:
    song = _write_midi(tmp_path / "high.mid", program=0, pitch=110)  # piano above MIDI 107 only
    line = _refused(
        capsys, ["--checkpoint", str(model), "--midi", str(song), "--out", str(tmp_path)]
    )
    assert str(song) in line and "Piano track is empty" in line


@pytest.mark.parametrize("name", ["6354774_Macabre Waltz.mid", "pop909/001/001.mid"])
def test_not_4_4(capsys, tmp_path, model, name) -> None:
    song = DATA / "midi" / name
    line = _refused(
        capsys, ["--checkpoint", str(model), "--midi", str(song), "--out", str(tmp_path)]
    )
    assert str(song) in line and "time signature" in line
    assert ("3/4 at 0 s" if "Waltz" in name else "2/4 at 0 s") in line


def test_unconditional_checkpoint(capsys, tmp_path, model) -> None:
    ckpt = load_checkpoint(model)
    run = {k: v for k, v in ckpt["run"].items() if not k.startswith("condition")}
    plain = tmp_path / "plain.pt"
    save_checkpoint(plain, {**ckpt, "run": run})
    line = _refused(
        capsys, ["--checkpoint", str(plain), "--midi", str(SONG), "--out", str(tmp_path)]
    )
    assert str(plain) in line and "unconditional" in line
    line = _refused(
        capsys,
        [
            "--checkpoint",
            str(model),
            "--midi",
            str(SONG),
            "--track",
            "Guitar",
            "--out",
            str(tmp_path),
        ],
    )
    assert "conditional on 'Piano', not 'Guitar'" in line


def test_generated_notes_are_runs_of_steps() -> None:
    roll = np.zeros((10, 84), dtype=bool)
    roll[2:5, 36] = True  # MIDI 60, steps 2-4
    roll[6:7, 36] = True  # MIDI 60 again, step 6
    roll[9, 0] = True  # MIDI 24, the last step: cut at the song's end
    times = np.arange(11) * 0.1  # step boundaries in seconds
    notes = accompany.track_notes(roll, times, end=0.95)
    got = sorted((n.pitch, round(n.start, 6), round(n.end, 6), n.velocity) for n in notes)
    assert got == [(24, 0.9, 0.95, 100), (60, 0.2, 0.5, 100), (60, 0.6, 0.7, 100)]
