"""The project's configuration: ``params.yaml`` read once into frozen dataclasses.

Every section of ``params.yaml`` is one dataclass below; ``load_params`` checks the whole file
against them and rejects an unknown key, a missing key or a value of the wrong type with a message
that names the key and the file. Snakemake validates through the same function (see
``workflow/rules/common.smk``), so both orchestrators refuse the same bad file the same way.

Values that are only meaningful within a range (a positive batch size, a known preset name) are
checked in ``__post_init__`` of their dataclass, again naming the key.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from pipeline.errors import ConfigError

TRACK_SETS = ("bmusegan8", "lpd5", "lpd17")
DISCRIMINATORS = ("proposed", "ablated", "baseline", "proposed_small")
GENERATORS = ("proposed", "proposed_small")
# Stage-two and end-to-end experiments, named as in docs/model.md, section 4.4.
EXPERIMENTS = (
    "twostage_dbn",
    "twostage_sbn",
    "joint_dbn",
    "joint_sbn",
    "end2end_dbn",
    "end2end_sbn",
)


def _check(condition: bool, key: str, message: str) -> None:
    """Raise a ConfigError about ``key`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(f"{key}: {message}")


def _check_budget(minutes: float | None, key: str) -> None:
    """A training time budget is null (none) or a positive number of minutes."""
    _check(minutes is None or minutes > 0, key, f"must be null or > 0 minutes, got {minutes}")


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Paths:
    """Where the raw data lives. Point these at a full LPD download to run at the paper's scale."""

    lpd_root: str  # an LPD tree: lpd_cleansed/, lpd_5_cleansed/ or lpd_17_cleansed/
    cleansed_ids: str  # cleansed_ids.txt: "md5    MSD id" per line
    lastfm_dir: str  # folder of id_list_<tag>.txt (LPD's Last.fm label lists)
    midi_dir: str  # a folder of MIDI files, used when filter.source is "midi"
    paper_reference: str  # data/reference/paper_reference.csv: the paper's table values
    reference_runs: str  # data/reference/training_progress: the original runs' curves


@dataclass(frozen=True)
class Fetch:
    """Stage ``fetch``: where the inputs listed in ``data/sources.yaml`` come from (docs/fetch.md).

    Sources are tried in order: the local folder, then each mirror, then the official URLs.
    """

    local_dir: str | None  # a folder already holding the data (e.g. ../shared/data); null: none
    mirrors: list[str]  # base URLs tried before the official ones: <mirror>/<download name>
    retries: int  # further attempts per URL on 5xx, a cut connection or a timeout
    backoff: float  # seconds before the first retry, doubled after each
    timeout: float  # seconds without data before a connection counts as failed

    def __post_init__(self) -> None:
        _check(self.retries >= 0, "fetch.retries", f"must be >= 0, got {self.retries}")
        _check(self.backoff >= 0, "fetch.backoff", f"must be >= 0, got {self.backoff}")
        _check(self.timeout > 0, "fetch.timeout", f"must be > 0, got {self.timeout}")
        for i, url in enumerate(self.mirrors):
            ok = url.startswith(("http://", "https://"))
            _check(ok, f"fetch.mirrors[{i}]", f"must be an http(s) URL, got {url!r}")


@dataclass(frozen=True)
class Filter:
    """Stage ``filter``: which songs enter the training tensor (paper section 4.1)."""

    source: Literal["lpd", "midi"]
    tag: str | None  # Last.fm tag; null keeps every song
    min_bars: int
    max_song_steps: int  # longer songs are removed unread (rule too_long; pipeline.data.limits)
    max_midi_bytes: int  # larger MIDI files are removed unparsed (rule too_large)
    workers: int  # processes that read files; 0 = all cores

    def __post_init__(self) -> None:
        _check(self.min_bars >= 1, "filter.min_bars", f"must be >= 1, got {self.min_bars}")
        _check(self.max_song_steps >= 1, "filter.max_song_steps", "must be >= 1")
        _check(self.max_midi_bytes >= 1, "filter.max_midi_bytes", "must be >= 1")
        _check(self.workers >= 0, "filter.workers", f"must be >= 0, got {self.workers}")


@dataclass(frozen=True)
class BuildTensor:
    """Stage ``build_tensor``: merged, binarized four-bar phrases in one HDF5 file."""

    track_set: Literal["bmusegan8", "lpd5", "lpd17"]
    phrases_per_song: int
    n_bars: int
    lowest_pitch: int
    n_pitches: int
    allow_overlap: bool
    allow_silent: bool
    keep_short_songs: bool  # false = drop a song with fewer than phrases_per_song valid windows
    seed: int
    workers: int  # processes that load songs; 0 = all cores

    def __post_init__(self) -> None:
        _check(self.phrases_per_song >= 1, "build_tensor.phrases_per_song", "must be >= 1")
        _check(self.n_bars >= 1, "build_tensor.n_bars", "must be >= 1")
        _check(self.n_pitches >= 1, "build_tensor.n_pitches", "must be >= 1")
        _check(
            0 <= self.lowest_pitch and self.lowest_pitch + self.n_pitches <= 128,
            "build_tensor.lowest_pitch/n_pitches",
            "the pitch range must lie within MIDI 0..127",
        )
        _check(self.workers >= 0, "build_tensor.workers", f"must be >= 0, got {self.workers}")


@dataclass(frozen=True)
class Model:
    """Network options shared by every experiment (docs/model.md, section 2)."""

    z_dim: int
    width: float  # every hidden channel count times this; 1.0 = the paper's networks
    batch_norm: Literal["affine", "batch"]  # affine = the original's inference-mode BN
    estimator: Literal["sigmoid_adjusted", "straight_through"]

    def __post_init__(self) -> None:
        _check(self.z_dim >= 1, "model.z_dim", "must be >= 1")
        _check(0 < self.width <= 4, "model.width", f"must be in (0, 4], got {self.width}")


@dataclass(frozen=True)
class Optim:
    """WGAN-GP and Adam settings shared by all training stages (docs/model.md, sections 4.1-4.3)."""

    lr: float
    beta1: float
    beta2: float
    eps: float
    gp_lambda: float
    n_critic: int
    n_critic_burst: int
    burst_first_iterations: int  # stage one and end-to-end only
    burst_every: int
    slope_rate: float  # binary-neuron slope is multiplied by this after every epoch
    device: Literal["auto", "cpu", "cuda"]
    bf16: bool  # bf16 autocast of the forward passes (docs/gpu.md)
    compile: bool  # torch.compile of G, R and the critic loss (docs/gpu.md)
    grouped: bool  # D's and R's private networks as grouped convolutions (docs/gpu_speed.md)
    tf32: bool  # CUDA: TF32 matmuls and convolutions; false = IEEE fp32 (docs/gpu.md)
    noise_device: Literal["device", "cpu"]  # where the GP epsilon and SBN noise are drawn
    monitor_every: int  # iterations between metrics of the fixed monitoring batch
    snapshot_every: int  # iterations between rolling resume snapshots
    seed: int

    def __post_init__(self) -> None:
        _check(self.lr > 0, "optim.lr", "must be > 0")
        _check(0 <= self.beta1 < 1, "optim.beta1", "must be in [0, 1)")
        _check(0 <= self.beta2 < 1, "optim.beta2", "must be in [0, 1)")
        _check(self.eps > 0, "optim.eps", "must be > 0")
        _check(self.gp_lambda >= 0, "optim.gp_lambda", "must be >= 0")
        _check(self.slope_rate > 0, "optim.slope_rate", "must be > 0")
        _check(self.n_critic >= 1, "optim.n_critic", "must be >= 1")
        _check(self.n_critic_burst >= 1, "optim.n_critic_burst", "must be >= 1")
        _check(self.burst_first_iterations >= 0, "optim.burst_first_iterations", "must be >= 0")
        _check(self.burst_every >= 1, "optim.burst_every", "must be >= 1")
        _check(self.monitor_every >= 1, "optim.monitor_every", "must be >= 1")
        _check(self.snapshot_every >= 1, "optim.snapshot_every", "must be >= 1")


@dataclass(frozen=True)
class Pretrain:
    """Stage ``pretrain``: stage-one G + D, one run per discriminator (docs/model.md, section 4.4).

    The runs themselves (proposed, ablated, baseline) are the stage's instances in ``dvc.yaml``.
    """

    generator: str
    batch_size: int
    n_iterations: int  # paper: 8,580 (20 epochs at batch 32 on 13,746 phrases)
    max_minutes: float | None  # wall-clock budget of one run; null = none (training.budget)

    def __post_init__(self) -> None:
        _check(self.generator in GENERATORS, "pretrain.generator", f"unknown {self.generator!r}")
        _check(self.batch_size >= 1, "pretrain.batch_size", "must be >= 1")
        _check(self.n_iterations >= 1, "pretrain.n_iterations", "must be >= 1")
        _check_budget(self.max_minutes, "pretrain.max_minutes")


@dataclass(frozen=True)
class Train:
    """Stage ``train``: two-stage, joint and end-to-end models (docs/model.md, section 4.4).

    The experiments themselves are the stage's instances in ``dvc.yaml`` (vars ``experiments``).
    """

    batch_size: int
    n_iterations: int  # two-stage and joint; paper: about 7,000
    n_iterations_end2end: int  # paper: about 9,000
    max_minutes: float | None  # wall-clock budget of one run; null = none (training.budget)

    def __post_init__(self) -> None:
        _check(self.batch_size >= 1, "train.batch_size", "must be >= 1")
        _check(self.n_iterations >= 1, "train.n_iterations", "must be >= 1")
        _check(self.n_iterations_end2end >= 1, "train.n_iterations_end2end", "must be >= 1")
        _check_budget(self.max_minutes, "train.max_minutes")


@dataclass(frozen=True)
class Sample:
    """Stage ``sample``: phrases drawn from each trained model with a seeded z.

    See docs/model.md, section 5.1.
    """

    seed: int
    n_phrases_pretrain: int  # paper: 1,600
    n_phrases_binary: int  # paper: 800
    batch_size: int
    n_midi: int
    n_grid: int  # phrases drawn in the PNG grid
    n_audio: int  # phrases rendered to audio (FLAC), and as many training phrases in the report
    tempo: float  # beats per minute of the MIDI files and the audio

    def __post_init__(self) -> None:
        _check(self.n_phrases_pretrain >= 1, "sample.n_phrases_pretrain", "must be >= 1")
        _check(self.n_phrases_binary >= 1, "sample.n_phrases_binary", "must be >= 1")
        _check(self.batch_size >= 1, "sample.batch_size", "must be >= 1")
        _check(self.n_grid >= 1, "sample.n_grid", "must be >= 1 (grid.png is an output)")
        _check(self.n_midi >= 0, "sample.n_midi", "must be >= 0")
        _check(self.n_audio >= 0, "sample.n_audio", "must be >= 0")
        _check(self.tempo > 0, "sample.tempo", f"must be > 0, got {self.tempo}")


@dataclass(frozen=True)
class MetricMode:
    """Thresholds and chroma of one metric mode (docs/model.md, section 5.7)."""

    qualified_min_steps: int  # QN: a note is qualified if it lasts at least this many steps
    polyphonic_min_pitches: int  # PP: a step is polyphonic with at least this many pitches
    chroma: Literal["band8", "pitch_class"]
    drum_semantics: Literal["onset", "xor"]

    def check(self, key: str) -> None:
        """Range checks, run by ``Metrics`` so the message names the mode's key."""
        _check(self.qualified_min_steps >= 1, f"{key}.qualified_min_steps", "must be >= 1")
        _check(self.polyphonic_min_pitches >= 1, f"{key}.polyphonic_min_pitches", "must be >= 1")


@dataclass(frozen=True)
class ModernMetrics:
    """Mode ``modern``: the Yang & Lerch overlapped-area distances (docs/metrics.md).

    Each evaluated set draws ``n_phrases`` phrases with a generator seeded by ``seed``; the
    intra-set and inter-set distance samples hold ``n_pairs`` seeded random pairs each.
    """

    n_phrases: int  # phrases per set whose features enter the distances
    n_pairs: int  # distance pairs drawn per distribution
    seed: int

    def check(self, key: str) -> None:
        """Range checks, run by ``Metrics`` so the message names the key."""
        _check(self.n_phrases >= 2, f"{key}.n_phrases", "must be >= 2")
        _check(self.n_pairs >= 2, f"{key}.n_pairs", "must be >= 2")
        _check(self.seed >= 0, f"{key}.seed", "must be >= 0")


METRIC_MODES = ("paper", "musical", "modern")


@dataclass(frozen=True)
class Metrics:
    """Metric options of stage ``evaluate``.

    See docs/model.md, section 5; mode ``modern``: docs/metrics.md.
    """

    modes: list[str]
    paper: MetricMode
    musical: MetricMode
    modern: ModernMetrics
    tonal_pair: list[int]  # track indices of the tonal-distance pair (Piano, Guitar)
    tonal_radii: list[float]  # r1, r2, r3 of the tonal matrix
    scale_mask: list[int]  # 12 entries, 1 = in scale (C major)
    drum_filter: list[float]  # one 6-step period of the 16th-note grid
    drum_track: int
    chunk_size: int  # phrases read per chunk from the HDF5 file

    def __post_init__(self) -> None:
        for mode in self.modes:
            _check(mode in METRIC_MODES, "metrics.modes", f"unknown mode {mode!r}")
        self.paper.check("metrics.paper")
        self.musical.check("metrics.musical")
        self.modern.check("metrics.modern")
        _check(len(self.tonal_pair) == 2, "metrics.tonal_pair", "needs exactly two tracks")
        _check(len(self.tonal_radii) == 3, "metrics.tonal_radii", "needs exactly three radii")
        _check(len(self.scale_mask) == 12, "metrics.scale_mask", "needs exactly 12 entries")
        _check(set(self.scale_mask) <= {0, 1}, "metrics.scale_mask", "entries must be 0 or 1")
        _check(len(self.drum_filter) >= 1, "metrics.drum_filter", "needs at least one entry")
        _check(min(self.tonal_pair, default=0) >= 0, "metrics.tonal_pair", "must be >= 0")
        _check(self.drum_track >= 0, "metrics.drum_track", "must be >= 0")
        _check(self.chunk_size >= 1, "metrics.chunk_size", "must be >= 1")


@dataclass(frozen=True)
class Conditional:
    """Track-conditional runs (docs/accompany.md; ours, not the paper's), off by default.

    ``track`` is the given track's name; the DAG trains the conditional stage one listed in
    ``pretrain`` and the conditional stage-two runs listed in ``experiments``, sampled with the
    conditions of the training tensor and evaluated by condition-following (docs/accompany.md).
    """

    track: str  # the given track of every conditional run, by name (e.g. Piano)
    pretrain: list[str]  # conditional stage-one runs in the DAG: [] (off) or [proposed]
    experiments: list[str]  # conditional stage-two runs in the DAG: twostage_* / joint_*

    def __post_init__(self) -> None:
        _check(bool(self.track), "conditional.track", "must name a track")
        for name in self.pretrain:
            _check(name == "proposed", "conditional.pretrain", f"only proposed, got {name!r}")
        for name in self.experiments:
            ok = name in EXPERIMENTS and not name.startswith("end2end")
            _check(ok, "conditional.experiments", f"{name!r} is not a twostage_* or joint_* run")
        _check(
            len(set(self.experiments)) == len(self.experiments),
            "conditional.experiments",
            "lists a run twice",
        )
        _check(
            not self.experiments or self.pretrain == ["proposed"],
            "conditional.pretrain",
            "must be [proposed] when conditional.experiments is not empty (stage two continues it)",
        )


@dataclass(frozen=True)
class Params:
    """The whole ``params.yaml``."""

    paths: Paths
    fetch: Fetch
    filter: Filter
    build_tensor: BuildTensor
    model: Model
    optim: Optim
    pretrain: Pretrain
    train: Train
    sample: Sample
    metrics: Metrics
    conditional: Conditional

    def __post_init__(self) -> None:
        _check(
            not (self.optim.grouped and self.model.batch_norm == "batch"),
            "optim.grouped",
            "needs model.batch_norm: affine (true batch norm keeps running statistics per track)",
        )


# --------------------------------------------------------------------------------------------
# Loading and validation
# --------------------------------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and return it in that type."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = typing.get_args(tp)
        _check(value in choices, key, f"must be one of {list(choices)}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        inner = [o for o in options if o is not type(None)]
        return _convert(value, inner[0], key)
    if origin is list:
        _check(isinstance(value, list), key, f"must be a list, got {value!r}")
        (item_tp,) = typing.get_args(tp)
        return [_convert(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(tp):
        _check(isinstance(value, dict), key, f"must be a mapping, got {value!r}")
        return _build(tp, value, key)
    if tp is bool:
        _check(isinstance(value, bool), key, f"must be true or false, got {value!r}")
        return value
    if tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        _check(ok, key, f"must be an integer, got {value!r}")
        return value
    if tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        _check(ok, key, f"must be a number, got {value!r}")
        _check(math.isfinite(value), key, f"must be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        _check(isinstance(value, str), key, f"must be a string, got {value!r}")
        return value
    raise TypeError(f"{key}: unsupported annotation {_type_name(tp)}")


def _build(cls: Any, data: dict[str, Any], prefix: str) -> Any:
    """Build dataclass ``cls`` from ``data``, rejecting unknown and missing keys."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    dotted = f"{prefix}." if prefix else ""
    # keys sorted as text: YAML keys need not be strings (``1: x``), and ints and strs do not sort
    unknown = sorted(str(k) for k in set(data) - set(fields))
    _check(not unknown, f"{dotted}{unknown[0] if unknown else ''}", "unknown key")
    missing = sorted(set(fields) - set(data))
    _check(not missing, f"{dotted}{missing[0] if missing else ''}", "missing key")
    values = {name: _convert(data[name], hints[name], f"{dotted}{name}") for name in fields}
    return cls(**values)


def params_from_dict(data: dict[str, Any], source: str = "params.yaml") -> Params:
    """Validate an already parsed params mapping; errors name ``source``."""
    try:
        if not isinstance(data, dict):
            raise ConfigError("the file must hold a mapping of sections")
        return typing.cast(Params, _build(Params, data, ""))
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None


def read_yaml(path: str | Path) -> Any:
    """The parsed YAML of ``path``; an unreadable or invalid file is a ConfigError naming it."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the params file ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text (byte {error.start})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({yaml_problem(error)})") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML (nested too deeply)") from None


def load_params(path: str | Path = "params.yaml", overlays: Sequence[str | Path] = ()) -> Params:
    """Read and validate ``params.yaml``, then apply each overlay file in turn (``merge_overlay``);
    every error names the file and the key."""
    data = read_yaml(path)
    if not overlays:
        return params_from_dict(data, str(path))
    params_from_dict(data, str(path))  # the base must be valid on its own
    for overlay in overlays:
        data = merge_overlay(data, read_yaml(overlay), str(overlay))
    return params_from_dict(data, overlay_source(path, overlays))


def overlay_source(base: str | Path, overlays: Sequence[str | Path]) -> str:
    """How a validation error names a merged setting: ``configs/paper.yaml over params.yaml``."""
    return " + ".join(map(str, overlays)) + f" over {base}" if overlays else str(base)


def merge_overlay(base: dict[str, Any], overlay: Any, source: str) -> dict[str, Any]:
    """``base`` with ``overlay`` merged in, as Snakemake merges ``--configfile`` over the
    Snakefile's ``configfile:`` (``snakemake.utils.update_config``): a mapping merges into the
    section of the same name, key by key and at any depth; any other value (a list too) replaces.

    An overlay names only the keys it changes (``configs/paper.yaml``), so everything else, the
    user's ``paths`` above all, stays as ``base`` has it. A key that ``params.yaml`` does not know
    is a ConfigError naming ``source`` and the key; the merged result is validated by the caller.
    """
    try:
        if not isinstance(overlay, dict) or not overlay:
            raise ConfigError("an overlay must hold a mapping of the sections it changes")
        return _merge(base, overlay, Params, "")
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None


def _merge(base: dict[str, Any], overlay: dict[str, Any], cls: Any, prefix: str) -> dict[str, Any]:
    """One level of ``merge_overlay``: ``cls`` is the dataclass this level of keys belongs to."""
    hints = typing.get_type_hints(cls)
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        _check(key in hints, f"{prefix}{key}", "unknown key")
        if dataclasses.is_dataclass(hints[key]) and isinstance(value, dict):
            _check(bool(value), f"{prefix}{key}", "an empty section changes nothing")
            section = base.get(key)
            merged[key] = _merge(
                section if isinstance(section, dict) else {}, value, hints[key], f"{prefix}{key}."
            )
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def yaml_problem(error: yaml.YAMLError) -> str:
    """A YAML error on one line: where (1-based line and column) and what."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"


def as_dict(params: Any) -> dict[str, Any]:
    """A plain dict of a config dataclass, for checkpoints and HDF5 attributes."""
    return dataclasses.asdict(params)


def params_digest(params: Params) -> str:
    """A short digest of the validated params: equal digests mean the same setting, key for key."""
    text = json.dumps(as_dict(params), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
