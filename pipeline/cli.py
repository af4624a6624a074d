"""What every stage's ``main()`` shares: the ``--params`` and ``--log`` options and logging set-up.

DVC's ``cmd:`` and Snakemake's ``shell:`` run the identical command line, so a stage writes its own
log file (``--log``, declared as the Snakemake rule's ``log:``) instead of relying on a shell
redirection that only one of the tools would see.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from pipeline.config import Params, load_params
from pipeline.errors import ConfigError
from pipeline.io import OutputPathError, is_disk_full, make_parent
from pipeline.lock import CheckoutBusy, claim_checkout

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def first_paragraph(doc: str | None) -> str:
    """The first paragraph of a module docstring on one line: a command's ``--help`` description."""
    return " ".join((doc or "").split("\n\n")[0].split()).replace("``", "")


def stage_parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with the options every stage takes, described by the first paragraph of
    the stage module's docstring ``doc``."""
    script = Path(sys.argv[0])
    parser = argparse.ArgumentParser(
        prog=f"python -m pipeline.stages.{script.stem}" if script.parent.name == "stages" else None,
        description=first_paragraph(doc),
        epilog="A bad params file or input stops the stage with one line on stderr, exit status 2.",
    )
    parser.add_argument(
        "--params",
        default="params.yaml",
        help="the params file to read, validated first (default: params.yaml)",
    )
    parser.add_argument(
        "--log", default=None, help="also write the log to this file (default: stderr only)"
    )
    return parser


def check_outputs(files: tuple[str | Path, ...] = (), folders: tuple[str | Path, ...] = ()) -> None:
    """Before a long run: each output path can be written as a file or a folder (its parent
    folders are made), else an OutputPathError naming it, which ``exit_on`` turns into exit 2."""
    for path in files:
        make_parent(Path(path), "file")
    for path in folders:
        make_parent(Path(path), "folder")


def count(text: str) -> int:
    """An argparse ``type`` for a count of at least 1: a bad one is a usage error (exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """An argparse ``type`` for a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def add_training_outputs(parser: argparse.ArgumentParser) -> None:
    """The options ``pretrain`` and ``train`` share: where a run writes; the conditional switch."""
    parser.add_argument(
        "--out-dir", type=Path, required=True, help="where the checkpoint and logs go; required"
    )
    parser.add_argument(
        "--snapshot-dir",
        type=Path,
        required=True,
        help="the rolling resume snapshot's folder (a killed run resumes from it); required",
    )
    parser.add_argument(
        "--conditional",
        action="store_true",
        help="a track-conditional run on conditional.track (docs/accompany.md)",
    )


def setup_logging(log_path: str | None) -> None:
    """Log INFO and above to stderr and, when given, to ``log_path`` (created, overwritten)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, handlers=handlers, force=True)


def load_or_exit(path: str) -> Params:
    """Load the params file, or exit with status 2 and the validation message (no traceback).

    Every stage calls this first, so it is also where a stage claims the checkout for the
    orchestrator that started it (``pipeline.lock``), before anything is read or written.
    """
    try:
        params = load_params(path)
        claim_checkout()
        return params
    except (ConfigError, CheckoutBusy) as error:
        logging.getLogger("pipeline").error("%s", error)
        raise SystemExit(2) from None


@contextlib.contextmanager
def exit_on(*errors: type[Exception]) -> Iterator[None]:
    """Turn the expected input ``errors`` (a bad file, a missing list) into a logged message and
    exit status 2, without a traceback."""
    try:
        yield
    except errors as error:
        logging.getLogger("pipeline").error("%s", error)
        raise SystemExit(2) from None
    except OutputPathError as error:
        logging.getLogger("pipeline").error("%s", error.strerror)
        raise SystemExit(2) from None
    except OSError as error:
        if not is_disk_full(error):
            raise
        # the output was being written to a temporary file (pipeline.io.atomic_path), which is
        # gone now; the previous output, if any, is untouched
        where = f"{error.filename}: " if error.filename else ""
        logging.getLogger("pipeline").error(
            "%sno space left on device; the output was not written", where
        )
        raise SystemExit(2) from None


def existing_file(text: str) -> Path:
    """An argparse ``type`` for an input file that must exist (a folder is refused)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a folder, not a file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    return path


def existing_dir(text: str) -> Path:
    """An argparse ``type`` for an input folder that must exist."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: no such folder")
    return path


def params_arg(text: str) -> Params:
    """An argparse ``type`` that loads and validates a params file, for commands other than the
    stages (benchmarks): a bad file is a usage error naming the file and the key."""
    try:
        return load_params(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
