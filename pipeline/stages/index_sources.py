"""Stage ``index_sources``: one small listing of the source folders, so that checking whether the
data stages are up to date does not mean checking every song file.

``filter`` and ``build_tensor`` read ``paths.lpd_root`` and ``paths.midi_dir``. Listed as DVC
dependencies, those folders cost a no-op ``dvc repro`` one check per file: 12 s for a tree the
size of the LPD-cleansed release (21,425 files, ``benchmarks/RESULTS.md``). Instead, this stage
writes the md5 and size of every file under both folders to one listing, and the two data stages
depend on the listing. ``dvc.yaml`` marks the stage ``always_changed``, so every ``dvc repro``
lists the folders again; when nothing changed the listing has the same bytes and DVC skips
everything downstream. The listing holds only paths, sizes and content hashes, so it is the same
on every machine: a clone that pulled a run from the DVC remote finds its data stages up to date.

Hashing every file on every run would read the whole dataset, so a file's md5 is kept in
``hash_cache.json`` beside the listing (not a declared output) together with the size,
modification time (ns) and inode it had, and recomputed only when one of those changed: the same
rule DVC's own cache of file hashes follows. Editing, replacing or copying a file over another
changes one of the three; adding, removing or renaming one changes the paths. Writing other bytes
of the same length and then resetting the modification time is the one change that goes unseen,
as it does in DVC.

Snakemake runs the rule when a folder is newer than the listing (its inputs are the folders,
checked by modification time as Snakemake checks any folder). Links are followed (a changed target
changes the listing); a link that points nowhere is listed with size -1 and no hash.

The MIDI folder is read only with ``filter.source: midi``: an LPD run lists it when it is there
and does without it otherwise (``paths.midi_dir`` points into ``../shared``, which a fresh clone
lacks); a MIDI run without it is an error naming the folder.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from pipeline.cli import exit_on, load_or_exit, setup_logging, stage_parser
from pipeline.io import file_digest, stat_stamp, walk_files, write_json, write_text

log = logging.getLogger(__name__)

COLUMNS = ("source", "path", "size", "md5")
CACHE_NAME = "hash_cache.json"

# What the hash cache keeps per file: "source/path" -> [size, mtime_ns, inode, md5].
Cache = dict[str, list]


def list_folder(source: str, root: Path, old: Cache, new: Cache) -> list[str]:
    """The listing lines of ``root``; hashes come from ``old`` when the file's stat still
    matches, and every file's entry goes into ``new``."""
    if not root.is_dir():
        raise FileNotFoundError(f"{source} folder {root} is not a folder")
    lines, top = [], str(root)
    for rel in walk_files(root):
        key = f"{source}/{rel}"
        try:
            stamp = stat_stamp(f"{top}/{rel}")  # a string, not a Path: 21,425 of them
        except FileNotFoundError:  # a link that points nowhere
            lines.append(f"{source}\t{rel}\t-1\t")
            continue
        cached = old.get(key)
        if isinstance(cached, list) and len(cached) == 4 and cached[:3] == stamp:
            md5 = cached[3]
        else:  # new, changed, or a damaged cache entry
            md5 = file_digest(root / rel, "md5")
        new[key] = [*stamp, md5]
        lines.append(f"{source}\t{rel}\t{stamp[0]}\t{md5}")
    return lines


def read_cache(path: Path) -> Cache:
    """The hash cache, or an empty one when it is missing or damaged (every file is hashed)."""
    try:
        cache = json.loads(path.read_text())
        return cache if isinstance(cache, dict) else {}
    except (OSError, ValueError):
        return {}


def run(lpd_root: Path, midi_dir: Path, listing: Path, source: str = "midi") -> int:
    """Write the listing of both folders to ``listing``; return the number of files listed.

    With ``source`` "lpd" a missing ``midi_dir`` is listed as empty instead of an error.
    """
    cache_path = listing.parent / CACHE_NAME
    old, new = read_cache(cache_path), Cache()
    lines = list_folder("lpd", lpd_root, old, new)
    if source == "midi" or midi_dir.exists():
        lines += list_folder("midi", midi_dir, old, new)
    else:
        log.info("no MIDI folder %s: not needed with filter.source: lpd", midi_dir)
    write_text(listing, "\t".join(COLUMNS) + "\n" + "".join(line + "\n" for line in lines))
    hashed = sum(old.get(key) != entry for key, entry in new.items())
    if new != old:
        write_json(cache_path, new)
    log.info("listed %d files (%d hashed anew): %s, %s", len(lines), hashed, lpd_root, midi_dir)
    return len(lines)


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    for name, what in (
        ("lpd-root", "the LPD tree to list (paths.lpd_root)"),
        ("midi-dir", "the MIDI folder to list (paths.midi_dir)"),
        ("listing", "the listing to write (TSV: path, size, md5 per file)"),
    ):
        parser.add_argument(f"--{name}", required=True, type=Path, help=f"{what}; required")
    args = parser.parse_args(argv)
    setup_logging(args.log)
    params = load_or_exit(args.params)  # validates the params and claims the checkout
    with exit_on(FileNotFoundError):
        run(args.lpd_root, args.midi_dir, args.listing, params.filter.source)


if __name__ == "__main__":
    main()
