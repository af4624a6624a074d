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

from pipeline.config import ConfigError, Params, load_params
from pipeline.io import is_disk_full
from pipeline.stages.lock import CheckoutBusy, claim_checkout

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def stage_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every stage takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", default="params.yaml", help="the params file (params.yaml)")
    parser.add_argument("--log", default=None, help="also write the log to this file")
    return parser


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
    orchestrator that started it (``pipeline.stages.lock``), before anything is read or written.
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
