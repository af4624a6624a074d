"""``python -m pipeline.accompany``: real MIDI files accompanied, and each bad input refused."""

from __future__ import annotations

import dataclasses
import errno
import re
from pathlib import Path

import mido
import numpy as np
import pretty_midi
import pytest
import torch

from pipeline import accompany
from pipeline.config import Params
from pipeline.data.midi import convert, read_midi
from pipeline.data.phrase_file import PhraseBatch, write_phrase_file
from pipeline.data.tracks import get_track_set
from pipeline.stages import pretrain
from pipeline.training.checkpoint import export_weights, load_checkpoint, save_checkpoint
from tests.conftest import DATA, REPO
from tests.training.conftest import tiny_params

BMUSEGAN8 = get_track_set("bmusegan8")
MIDI = DATA / "midi"
SONG = MIDI / "Mr. Blue Sky.mid"  # 4/4 at 0, a piano (program 0) among 9 instruments
# Lakh MIDI files (lmd_to_lpd): 43 s of guitars, bass, drums (3), reed and ensemble, no piano;
# and 150 s with a piano (2, program 0), whose song ends inside its last beat
NO_PIANO = DATA / "lmd_to_lpd" / "lmd_full" / "0" / "000af203cb1d081a52cea33aaca5fec3.mid"
WITH_PIANO = DATA / "lmd_to_lpd" / "lmd_full" / "6" / "6d100efb9f34a75621adfcd635e21b20.mid"


def _train(root: Path, params: Params, track: str) -> Path:
    """A conditional (``track``) stage-one checkpoint on two random bmusegan8 phrases."""
    rng = np.random.default_rng(0)
    phrases = rng.random((2, 4, 96, 84, 8)) < 0.01
    tensor = root / "phrases.h5"
    batch = PhraseBatch(phrases, [""] * 2, [""] * 2, [-1] * 2)
    write_phrase_file(tensor, [batch], phrases.shape[1:], BMUSEGAN8.info, 24, 24, {})
    p = tiny_params(params)
    p = dataclasses.replace(p, pretrain=dataclasses.replace(p.pretrain, n_iterations=1))
    pretrain.run(p, "proposed", tensor, root / "out", root / "snap", condition_track=track)
    return root / "out" / "checkpoint.pt"


@pytest.fixture(scope="module")
def model(tmp_path_factory, params: Params) -> Path:
    """Conditional on Piano, one iteration: it writes (almost) no notes."""
    return _train(tmp_path_factory.mktemp("acc_model"), params, "Piano")


@pytest.fixture(scope="module")
def drums_model(tmp_path_factory, params: Params) -> Path:
    """Conditional on Drums, one iteration."""
    return _train(tmp_path_factory.mktemp("acc_drums"), params, "Drums")


@pytest.fixture
def notes_everywhere(monkeypatch) -> None:
    """Stand in for a trained model that plays: in the last phrase, every generated track
    starts a one-step note on every step (MIDI 60 and 62 in turn), so some start in the song's
    last steps, past its end. The given track is passed through as the model does."""

    def generate(sampler, conditions: np.ndarray, seed: int, batch: int = 16) -> np.ndarray:
        phrases = np.zeros((*conditions.shape, 8), dtype=bool)
        phrases[-1, :, 0::2, 36] = True
        phrases[-1, :, 1::2, 38] = True
        phrases[..., sampler.condition] = conditions
        return phrases

    monkeypatch.setattr(accompany, "generate", generate)


def _run(model: Path, midi: Path, out: Path, *extra: str) -> Path:
    """Accompany ``midi`` into ``out``; the written MIDI file."""
    accompany.main(["--checkpoint", str(model), "--midi", str(midi), "--out", str(out), *extra])
    for suffix in (".mid", ".flac", ".png"):
        assert (out / f"{midi.stem}{suffix}").stat().st_size > 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{midi.stem}{s}" for s in (".flac", ".mid", ".png")
    )  # no temporary file left
    return out / f"{midi.stem}.mid"


def _same_part(source: Path, written: Path, chosen: list[int]) -> None:
    """The written file's first instruments are ``source``'s ``chosen`` ones, cell for cell
    (velocities included) after conversion, and nothing sounds past the source's length."""
    want, got = convert(read_midi(source)), convert(read_midi(written))
    for k, i in enumerate(chosen):
        assert got.tracks[k].is_drum == want.tracks[i].is_drum
        ours = got.dense_track(k)
        assert not ours[want.length :].any()
        assert np.array_equal(ours[: want.length], want.dense_track(i))


def _channels(path: Path) -> list[set[int]]:
    """The channels of each instrument track of a MIDI file."""
    return [{m.channel for m in t if not m.is_meta} for t in mido.MidiFile(path).tracks[1:]]


def test_real_song_is_accompanied(tmp_path, model) -> None:
    midi = _run(model, SONG, tmp_path / "out", "--track", "piano", "--seed", "0")  # any case
    _same_part(SONG, midi, [1])
    assert convert(read_midi(SONG)).dense_track(1).max() > 1  # real velocities, not binarized
    # one MIDI track per generated track, even an empty one (the tiny model writes few notes)
    names = [t.name for t in mido.MidiFile(midi).tracks]
    assert names[-7:] == [n for n in BMUSEGAN8.info.names if n != "Piano"]
    # the README's usage: a weights-only export (as models/ ships), nothing but the three paths;
    # the default seed is 0 and --track only a check, so the file is the same byte for byte
    weights = tmp_path / "weights.pt"
    export_weights(model, weights, discriminator=False)
    again = _run(weights, SONG, tmp_path / "again")
    assert again.read_bytes() == midi.read_bytes()


def test_readme_example_with_the_shipped_model(tmp_path) -> None:
    """The README's one-command accompaniment: the shipped model, trained, writes notes on the
    other tracks around the example piano part, which stays as it was."""
    example = REPO / "tests" / "fixtures" / "piano.mid"
    midi = _run(REPO / "models" / "conditional_proposed_cpu.pt", example, tmp_path / "band")
    _same_part(example, midi, [0])
    generated = pretty_midi.PrettyMIDI(str(midi)).instruments[1:]
    # A generated track that stays silent is left out of the file; the others keep their order.
    others = [n for n in BMUSEGAN8.info.names if n != "Piano"]
    names = [i.name for i in generated]
    assert names == [n for n in others if n in names]
    assert all(i.notes for i in generated)
    assert len(generated) >= 4, f"only {names} sound: an untrained model writes (almost) silence"


def test_any_instrument_can_be_the_given_part(tmp_path, model) -> None:
    """A file without piano, its guitar (program 26) given to the Piano model."""
    midi = _run(model, NO_PIANO, tmp_path / "out", "--part", "0")
    _same_part(NO_PIANO, midi, [0])
    assert read_midi(midi).instruments[0].program == 26


def test_time_signature_just_before_the_first_note(tmp_path, model) -> None:
    """3565Hero.mid: 4/4 at tick 5 (0.0065 s), first note at 7.7 s. The output keeps that one
    time signature, so its bars and its given part's cells are the input's."""
    source = MIDI / "3565Hero.mid"
    midi = _run(model, source, tmp_path / "out")
    _same_part(source, midi, [0, 1])  # both pianos (programs 0 and 2)
    signatures = read_midi(midi).time_signature_changes
    assert [(t.numerator, t.denominator) for t in signatures] == [(4, 4)]
    assert signatures[0].time == pytest.approx(read_midi(source).time_signature_changes[0].time)


@pytest.mark.parametrize("source", [WITH_PIANO, "one_note"])
def test_notes_past_the_songs_end(tmp_path, model, notes_everywhere, source) -> None:
    """The song ends inside its last beat; generated notes there started after the end."""
    if source == "one_note":  # 120 bpm, one piano note 0-1.9 s: four beats, 0-2 s
        pm = pretty_midi.PrettyMIDI(initial_tempo=120)
        pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0))
        piano = pretty_midi.Instrument(0, name="Piano")
        piano.notes.append(pretty_midi.Note(90, 60, 0.0, 1.9))
        pm.instruments.append(piano)
        source = tmp_path / "one_note.mid"
        pm.write(str(source))
    end = read_midi(source).get_end_time()
    midi = _run(model, source, tmp_path / "out")
    written = read_midi(midi)
    generated = [n for inst in written.instruments[-7:] for n in inst.notes]
    assert generated and all(n.start < n.end <= end + 1e-3 for n in generated)
    assert max(n.start for n in generated) > end - 0.1
    assert convert(written).length == convert(read_midi(source)).length


def test_drum_part(tmp_path, drums_model, notes_everywhere) -> None:
    """A Drums model given a real file's drum kit: kept on the drum channel, seven pitched
    tracks generated, each on a channel of its own."""
    midi = _run(drums_model, NO_PIANO, tmp_path / "out")
    _same_part(NO_PIANO, midi, [3])
    channels = _channels(midi)
    assert channels[0] == {9}
    generated = [c for cs in channels[1:] for c in cs]
    assert len(generated) == len(set(generated)) == 7 and 9 not in generated


def test_more_than_15_instruments(tmp_path, model) -> None:
    """16 pianos given: the 7 generated tracks keep channels of their own."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0))
    for k in range(16):
        piano = pretty_midi.Instrument(k % 8, name=f"Piano {k}")
        piano.notes.append(pretty_midi.Note(80, 48 + k, 0.0, 8.0))
        pm.instruments.append(piano)
    source = tmp_path / "pianos.mid"
    pm.write(str(source))
    channels = _channels(_run(model, source, tmp_path / "out"))
    given = set().union(*channels[:16])
    generated = [c for cs in channels[16:] for c in cs]
    assert len(generated) == len(set(generated)) == 7  # Drums on 9 and six more
    assert not given & set(generated)


def _refused(capsys, argv: list[str], out: Path) -> str:
    """Run with ``--out out``: exit status 2, one line on stderr, nothing written."""
    with pytest.raises(SystemExit) as exit_info:
        accompany.main([*argv, "--out", str(out)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    assert not out.exists()
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


@pytest.mark.parametrize(
    ("midi", "extra", "message"),
    [
        (MIDI / "I Gotta Feeling.mid", [], "no Piano track"),  # guitar, ensembles, drums
        (MIDI / "I Gotta Feeling.mid", ["--part", "4"], "4 'MIDI' (drums) is a drum part"),
        (MIDI / "I Gotta Feeling.mid", ["--part", "Lead"], "no instrument 'Lead' among its 6"),
        ("high", [], "the given part is empty in the model's pitch range"),  # piano at 110
        (MIDI / "6354774_Macabre Waltz.mid", [], "time signature 3/4 at 0 s"),
        (MIDI / "pop909/001/001.mid", [], "time signature 2/4 at 0 s"),
        (SONG, ["--max-bytes", "1000"], "30160 bytes, over the limit --max-bytes 1000"),
        (SONG, ["--max-minutes", "3"], "3.8 minutes long, over the limit --max-minutes 3"),
        (SONG, ["--max-bars", "100"], "over the limit --max-bars 100"),
    ],
)
def test_bad_input_is_refused(capsys, tmp_path, model, midi, extra, message) -> None:
    if midi == "high":
        midi = _write_midi(tmp_path / "high.mid", program=0, pitch=110)
    argv = ["--checkpoint", str(model), "--midi", str(midi), *extra]
    line = _refused(capsys, argv, tmp_path / "out")
    assert line.startswith(f"error: {midi}: ") and message in line


def test_unconditional_checkpoint(capsys, tmp_path, model) -> None:
    ckpt = load_checkpoint(model)
    run = {k: v for k, v in ckpt["run"].items() if not k.startswith("condition")}
    plain = tmp_path / "plain.pt"
    save_checkpoint(plain, {**ckpt, "run": run})
    argv = ["--checkpoint", str(plain), "--midi", str(SONG)]
    line = _refused(capsys, argv, tmp_path / "out")
    assert line.startswith(f"error: {plain}: ") and "unconditional" in line
    argv = ["--checkpoint", str(model), "--midi", str(SONG), "--track", "Guitar"]
    line = _refused(capsys, argv, tmp_path / "out")
    assert line.startswith(f"error: {model}: ") and "conditional on 'Piano', not 'Guitar'" in line


def test_output_paths_refused(capsys, tmp_path, model) -> None:
    source = _write_midi(tmp_path / "song.mid", program=0, pitch=60)
    before = source.read_bytes()
    argv = ["--checkpoint", str(model), "--midi", str(source)]
    with pytest.raises(SystemExit) as exit_info:
        accompany.main([*argv, "--out", str(tmp_path)])  # would write song.mid over the input
    assert exit_info.value.code == 2 and source.read_bytes() == before
    assert "would overwrite the input file" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as exit_info:
        accompany.main([*argv, "--out", str(tmp_path / "file")])
    assert exit_info.value.code == 2 and (tmp_path / "file").read_text() == ""
    line = capsys.readouterr().err.strip()
    assert line == f"error: {tmp_path / 'file'}: --out is a file; it must be a folder"
    line = _refused(capsys, argv, tmp_path / "file" / "band")  # refused before any work
    assert line.endswith(f": {tmp_path / 'file'} is a file; it must be a folder")


def test_missing_or_damaged_checkpoint(capsys, tmp_path) -> None:
    missing = tmp_path / "none.pt"
    argv = ["--checkpoint", str(missing), "--midi", str(SONG)]
    assert _refused(capsys, argv, tmp_path / "out") == f"error: {missing}: checkpoint not found"
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"not a checkpoint")
    argv = ["--checkpoint", str(damaged), "--midi", str(SONG)]
    line = _refused(capsys, argv, tmp_path / "out")
    assert line.startswith(f"error: {damaged}: not a readable checkpoint")


def test_failed_write_is_one_line(capsys, tmp_path, model, monkeypatch) -> None:
    """A disk that fills up while the files are written: one line naming the file, exit 2."""
    out = tmp_path / "out"

    def disk_full(path: Path, audio: np.ndarray) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(accompany, "write_audio", disk_full)
    source = _write_midi(tmp_path / "song.mid", program=0, pitch=60)
    with pytest.raises(SystemExit) as exit_info:
        accompany.main(["--checkpoint", str(model), "--midi", str(source), "--out", str(out)])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"error: {out / 'song.flac'}: No space left on device\n"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda(capsys, tmp_path, model) -> None:
    argv = ["--checkpoint", str(model), "--midi", str(SONG), "--device", "cuda"]
    assert _refused(capsys, argv, tmp_path / "out") == (
        "error: --device cuda: no CUDA device is available"
    )


def test_device_is_auto_by_default() -> None:
    args = accompany.parser().parse_args(["--midi", "x.mid"])
    assert args.device == "auto"


def test_help_explains_every_option(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        accompany.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert not re.search(r"issue \d", text, re.IGNORECASE)
    for action in accompany.parser()._actions:
        assert action.help and len(action.help) > 10, action.dest
    assert "auto is CUDA when present" in text and "seed of the model's random input" in text


def test_list(capsys) -> None:
    accompany.main(["--midi", str(MIDI / "In Too Deep.mid"), "--list"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + 13
    assert lines[6].split()[:5] == ["5", "'Lead'", "(program", "29,", "Guitar)"]
