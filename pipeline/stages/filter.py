"""Stage ``filter``: which songs enter the training tensor (paper 4.1, docs/model.md, section 1.1).

Sources (``filter.source``):

``lpd``
    An LPD tree (``<A>/<B>/<C>/<MSD id>/<md5>.npz``). Rules, in order: the file is in the LPD
    layout; its (md5, MSD id) pair is listed in ``cleansed_ids.txt``; the MSD id carries the Last.fm
    tag (``filter.tag``; null = no tag rule); one row per md5 (several MSD ids sharing a piano-roll
    count once); the file is readable; it has at least ``filter.min_bars`` complete bars. The 4/4
    rule holds by construction for LPD-cleansed (its cleansing kept only files with one 4/4 time
    signature starting at time 0); the report says so and removes nothing under it.
``midi``
    A folder of MIDI files. Rules: the MSD tag rule (a file can only carry a tag when its content
    md5 is listed in ``cleansed_ids.txt``; any other file is removed by a non-null tag rule, and the
    report counts them apart); one row per content md5; readable by pretty_midi; LPD-cleansed's
    time-signature rule (one 4/4 signature, at time 0; identical repeats of it count as one); at
    least ``min_bars`` bars. Rows come in the LPD source's order (smallest MSD id first; files
    without a known MSD id last, by path), so the same songs give the same tensor from either.

Both sources: before a file is read in full it must lie inside the source root (rule
``outside_root``: a link that leads out of it is never read), be small enough (``too_large``: a MIDI
file over ``filter.max_midi_bytes``, or an ``.npz`` member that would inflate to more than its song
can hold, as in a zip bomb) and not longer than ``filter.max_song_steps`` (``too_long``); see
``pipeline.data.limits``.

Outputs: the manifest CSV (one row per kept song; paths relative to the source root) and a JSON
report (count removed by each rule, each unreadable file with its error).
"""

from __future__ import annotations

import csv
import io
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.cli import exit_on, load_or_exit, setup_logging, stage_parser
from pipeline.config import Filter, as_dict
from pipeline.data import limits, lpd, midi
from pipeline.data.labels import read_all_tags, read_cleansed_ids, read_tag_list
from pipeline.data.manifest import OutsideRootError, source_path
from pipeline.data.npz import NpzReader
from pipeline.data.parallel import n_workers, ordered_map
from pipeline.data.song import RESOLUTION, STEPS_PER_BAR
from pipeline.errors import DataError
from pipeline.io import file_digest, write_json, write_text

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = ["msd_id", "md5", "source", "path", "n_bars", "n_steps", "msd_ids", "tags"]
REFUSAL_RULES = ("outside_root", "too_large", "too_long")
LPD_44_NOTE = (
    "not applied: LPD-cleansed holds only files with one 4/4 time signature whose first beat is "
    "at time 0, so every LPD-cleansed song is 4/4 throughout by construction"
)


@dataclass(frozen=True)
class Candidate:
    """A file that is still in the running: where it is and which song it is."""

    path: str  # relative to the source root
    md5: str
    msd_ids: tuple[str, ...]  # the MSD ids this row stands for ("" entries never appear)


@dataclass(frozen=True)
class FilterResult:
    n_files: int
    n_kept: int
    removed: dict[str, int]
    n_unreadable: int  # files listed in the report's unreadable list (layout included)


def _error_text(error: BaseException, root: Path) -> str:
    """``Type: message`` without the machine's absolute paths."""
    return f"{type(error).__name__}: {error}".replace(str(root.resolve()), "<root>").replace(
        str(root), "<root>"
    )


# --------------------------------------------------------------------------------------------
# Workers (top-level so they pickle)
# --------------------------------------------------------------------------------------------


# A probe's answer: (length in steps, time-signature problem, error, refusal), where a refusal is
# (rule, detail) for a file refused before it was read in full (outside_root, too_large, too_long).
Probe = tuple[int, str | None, str | None, tuple[str, str] | None]


def _probe_npz(task: tuple[str, str, Filter]) -> Probe:
    """Length, problem, error and refusal of an LPD file (its bounds checked first)."""
    root, rel, cfg = task
    try:
        with NpzReader(source_path(root, rel)) as npz:
            limits.check_npz(npz, cfg.max_song_steps)
            length = lpd.npz_header(npz).length
        limits.check_length(length, cfg.max_song_steps)
        return length, None, None, None
    except (OutsideRootError, limits.SongTooBig) as refusal:
        return 0, None, None, (_rule_of(refusal), str(refusal))
    except Exception as error:  # noqa: BLE001 - any unreadable file is reported, not fatal
        return 0, None, _error_text(error, Path(root)), None


def _probe_midi(task: tuple[str, str, Filter]) -> Probe:
    """Length, problem, error and refusal of a MIDI file (its bounds checked first)."""
    root, rel, cfg = task
    try:
        full = source_path(root, rel)
        limits.check_midi_size(full, cfg.max_midi_bytes)
        pm = midi.read_midi(full)
        limits.check_midi_length(pm, cfg.max_song_steps)
        problem = midi.time_signature_problem(pm)
        length = RESOLUTION * len(midi.beat_times(pm))
        limits.check_length(length, cfg.max_song_steps)
        return length, problem, None, None
    except (OutsideRootError, limits.SongTooBig) as refusal:
        return 0, None, None, (_rule_of(refusal), str(refusal))
    except Exception as error:  # noqa: BLE001
        return 0, None, _error_text(error, Path(root)), None


def _rule_of(refusal: OutsideRootError | limits.SongTooBig) -> str:
    return refusal.rule if isinstance(refusal, limits.SongTooBig) else "outside_root"


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------


class _Tally:
    """Counts removals per rule (in rule order) and collects unreadable files."""

    def __init__(self) -> None:
        self.rules: dict[str, dict[str, Any]] = {}
        self.unreadable: list[dict[str, str]] = []
        self.read_errors = 0  # unreadable files (layout problems are counted by rule "layout")
        # files refused unread, by rule: outside_root, too_large, too_long
        self.refused: dict[str, list[dict[str, str]]] = {r: [] for r in REFUSAL_RULES}

    def refuse(self, rule: str, path: str, detail: str) -> None:
        self.refused[rule].append({"path": path, "detail": detail})

    def refusal_rules(self) -> None:
        for rule, files in self.refused.items():
            self.rule(rule, len(files), files=sorted(files, key=lambda f: f["path"]))

    def unreadable_file(self, path: str, error: str) -> None:
        self.unreadable.append({"path": path, "error": error})
        self.read_errors += 1

    def rule(self, name: str, removed: int, **details: Any) -> None:
        self.rules[name] = {"removed": removed, **details}


def _lpd_candidates(
    root: Path, ids: dict[str, list[str]], tag_ids: set[str] | None, tally: _Tally
) -> tuple[list[Candidate], int]:
    files = list(lpd.find_npz_files(root))
    laid_out = []
    for rel in files:
        error = lpd.layout_error(rel)
        if error:
            tally.unreadable.append({"path": rel, "error": error})
        else:
            laid_out.append(lpd.parse_lpd_path(rel))
    tally.rule("layout", len(files) - len(laid_out))
    pairs = {(md5, msd) for md5, msds in ids.items() for msd in msds}
    cleansed = [f for f in laid_out if (f.md5, f.msd_id) in pairs]
    tally.rule("cleansed_ids", len(laid_out) - len(cleansed))
    tagged = cleansed if tag_ids is None else [f for f in cleansed if f.msd_id in tag_ids]
    tally.rule("tag", len(cleansed) - len(tagged))
    groups: dict[str, list[lpd.LpdFile]] = defaultdict(list)
    for f in tagged:
        groups[f.md5].append(f)
    out = []
    for md5 in sorted(groups, key=lambda m: min(f.msd_id for f in groups[m])):
        first = min(groups[md5], key=lambda f: f.msd_id)
        out.append(Candidate(first.path, md5, tuple(sorted(f.msd_id for f in groups[md5]))))
    tally.rule("duplicate_md5", len(tagged) - len(out))
    return out, len(files)


def _midi_candidates(
    root: Path, ids: dict[str, list[str]], tag_ids: set[str] | None, tally: _Tally
) -> tuple[list[Candidate], int]:
    files = list(midi.find_midi_files(root))
    hashed = []
    for rel in files:
        try:
            hashed.append((rel, file_digest(source_path(root, rel), "md5")))
        except OutsideRootError as error:  # e.g. a link to /dev/zero: never read it
            tally.refuse("outside_root", rel, str(error))
        except OSError as error:
            tally.unreadable_file(rel, _error_text(error, root))
    unknown = sum(1 for _, md5 in hashed if md5 not in ids)
    if tag_ids is None:
        tagged = hashed
        tally.rule("tag", 0)
    else:
        tagged = [(rel, md5) for rel, md5 in hashed if set(ids.get(md5, ())) & tag_ids]
        tally.rule("tag", len(hashed) - len(tagged), without_msd_id=unknown)
    seen: dict[str, Candidate] = {}
    for rel, md5 in tagged:
        if md5 not in seen:
            msds = ids.get(md5, [])
            if tag_ids is not None:
                msds = [m for m in msds if m in tag_ids]
            seen[md5] = Candidate(rel, md5, tuple(msds))
    tally.rule("duplicate_md5", len(tagged) - len(seen))
    return sorted(seen.values(), key=_lpd_order), len(files)


def _lpd_order(cand: Candidate) -> tuple[bool, str, str]:
    """Songs with an MSD id first, by smallest id (the LPD source's order), then by path."""
    return (not cand.msd_ids, min(cand.msd_ids, default=""), cand.path)


def _probe_all(
    source: str, root: Path, candidates: list[Candidate], cfg: Filter, tally: _Tally
) -> list[tuple[Candidate, int]]:
    probe = _probe_npz if source == "lpd" else _probe_midi
    tasks = [(str(root), c.path, cfg) for c in candidates]
    kept, problems, short = [], defaultdict(list), 0
    results = ordered_map(probe, tasks, n_workers(cfg.workers), ahead_per_worker=4, batch=32)
    for cand, (length, problem, error, refusal) in zip(candidates, results, strict=True):
        if refusal is not None:
            tally.refuse(refusal[0], cand.path, refusal[1])
        elif error is not None:
            tally.unreadable_file(cand.path, error)
        elif problem is not None:
            problems[problem].append(cand.path)
        elif length // STEPS_PER_BAR < cfg.min_bars:
            short += 1
        else:
            kept.append((cand, length))
    tally.rule("unreadable", tally.read_errors)
    tally.refusal_rules()
    if source == "lpd":
        tally.rule("time_signature", 0, note=LPD_44_NOTE)
    else:
        tally.rule(
            "time_signature",
            sum(len(v) for v in problems.values()),
            by_reason={k: len(v) for k, v in sorted(problems.items())},
            files={k: sorted(v) for k, v in sorted(problems.items())},
        )
    tally.rule("min_bars", short, min_bars=cfg.min_bars)
    return kept


def _manifest_text(
    source: str, kept: list[tuple[Candidate, int]], tags: dict[str, list[str]]
) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for cand, length in kept:
        song_tags = sorted({t for m in cand.msd_ids for t in tags.get(m, [])})
        writer.writerow(
            [
                cand.msd_ids[0] if cand.msd_ids else "",
                cand.md5,
                source,
                cand.path,
                length // STEPS_PER_BAR,
                length,
                ";".join(cand.msd_ids),
                ";".join(song_tags),
            ]
        )
    return buffer.getvalue()


def run(
    cfg: Filter,
    lpd_root: Path,
    cleansed_ids: Path,
    lastfm_dir: Path,
    midi_dir: Path,
    manifest: Path,
    report: Path,
) -> FilterResult:
    """Apply the rules to the source that ``cfg.source`` names; write manifest and report."""
    tag_ids = read_tag_list(lastfm_dir, cfg.tag) if cfg.tag is not None else None
    if cfg.source == "lpd" or Path(cleansed_ids).is_file() or tag_ids is not None:
        ids = read_cleansed_ids(cleansed_ids)
        if cfg.source == "lpd" and not ids:  # (MIDI files need no MSD id)
            raise DataError(f"{cleansed_ids}: empty: every LPD file would fail the id rule")
    else:
        ids = {}
    root = Path(lpd_root if cfg.source == "lpd" else midi_dir)
    tally = _Tally()
    collect = _lpd_candidates if cfg.source == "lpd" else _midi_candidates
    candidates, n_files = collect(root, ids, tag_ids, tally)
    log.info("%d files, %d candidates after the list rules", n_files, len(candidates))
    kept = _probe_all(cfg.source, root, candidates, cfg, tally)
    tags = read_all_tags(lastfm_dir)
    write_text(manifest, _manifest_text(cfg.source, kept, tags))
    params = {k: v for k, v in as_dict(cfg).items() if k != "workers"}
    write_json(
        report,
        {
            "source": cfg.source,
            "root": "paths.lpd_root" if cfg.source == "lpd" else "paths.midi_dir",
            "params": params,
            "n_files": n_files,
            "n_kept": len(kept),
            "rules": tally.rules,
            "rule_order": list(tally.rules),
            "unreadable": sorted(tally.unreadable, key=lambda u: u["path"]),
        },
    )
    removed = {name: int(r["removed"]) for name, r in tally.rules.items()}
    log.info("kept %d of %d files; removed %s", len(kept), n_files, removed)
    return FilterResult(n_files, len(kept), removed, len(tally.unreadable))


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    for name, what in (
        ("lpd-root", "the LPD tree read when filter.source is lpd (paths.lpd_root)"),
        ("cleansed-ids", "cleansed_ids.txt, 'md5  MSD id' per line (paths.cleansed_ids)"),
        ("lastfm-dir", "the folder of Last.fm id_list_<tag>.txt files (paths.lastfm_dir)"),
        ("midi-dir", "the MIDI folder read when filter.source is midi (paths.midi_dir)"),
        ("manifest", "the song manifest to write (CSV, one kept song per row)"),
        ("report", "the report to write (JSON: files removed by each rule, and why)"),
    ):
        parser.add_argument(f"--{name}", required=True, type=Path, help=f"{what}; required")
    args = parser.parse_args(argv)
    setup_logging(args.log)
    params = load_or_exit(args.params)
    with exit_on(DataError, FileNotFoundError):
        run(
            params.filter,
            args.lpd_root,
            args.cleansed_ids,
            args.lastfm_dir,
            args.midi_dir,
            args.manifest,
            args.report,
        )


if __name__ == "__main__":
    main()
