"""Command-line fuzz (tests/robust/cli_fuzz.py): each mistaken input of each stage's command line
ends in exit status 2 with one error line naming the path, never a traceback; the same for
``pipeline.dvc_flags``, ``pipeline.models`` and the benchmarks' argument parsing.

In-process (``main(argv)``, SystemExit caught), as tests/robust/test_damaged_files.py does: one
process per case would cost seconds each.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.config import Params
from pipeline.report import provenance
from pipeline.stages import (
    build_tensor,
    evaluate,
    filter,
    index_sources,
    pretrain,
    report,
    sample,
    tables,
    train,
)
from tests.dag.dag_tools import SHARED
from tests.robust.cli_fuzz import Option, argv_of, cases, lpd_tree, mistake, replace_option
from tests.robust.test_damaged_files import _metrics_tree
from tests.training.conftest import write_params

F, D = "file", "dir"
INPUTS = {
    "index_sources": [Option("lpd-root", D)],
    "filter": [Option("lpd-root", D), Option("cleansed-ids", F), Option("lastfm-dir", D)],
    "build_tensor": [Option("manifest", F), Option("lpd-root", D)],
    "pretrain": [Option("tensor", F)],
    "train": [Option("tensor", F), Option("pretrained", F)],
    "sample": [Option("checkpoint", F), Option("tensor", F)],
    "evaluate": [Option("phrases", F)],
    "tables": [Option("metrics-dir", D), Option("reference", F)],
    # the report's other inputs are read after a whole run's outputs: see test_stage_reports
    "report": [Option("tables-dir", D)],
}
# An empty source folder is not a mistake of the command line: the listing and the manifest are
# empty and the filter's report says 0 files.
NOT_MISTAKES = {
    ("index_sources", "lpd-root", "empty folder"),
    ("filter", "lpd-root", "empty folder"),
}
for _command in INPUTS:  # the params file of every stage
    INPUTS[_command].append(Option("params", F))
MAINS = {
    "index_sources": index_sources.main,
    "filter": filter.main,
    "build_tensor": build_tensor.main,
    "pretrain": pretrain.main,
    "train": train.main,
    "sample": sample.main,
    "evaluate": evaluate.main,
    "tables": tables.main,
    "report": report.main,
}


@pytest.fixture(scope="module")
def valid(tmp_path_factory, tiny: Params, tensor: Path, stage_one: Path) -> dict[str, list[str]]:
    """A valid command line of every stage (outputs in a scratch folder)."""
    root = tmp_path_factory.mktemp("cli_fuzz")
    pfile = str(write_params(root / "params.yaml", tiny))
    data = lpd_tree(root / "data", SHARED)
    out = root / "out"
    cmd: dict[str, dict[str, Path | str]] = {
        "index_sources": {
            "lpd-root": data["lpd-root"],
            "midi-dir": data["midi-dir"],
            "listing": out / "listing.tsv",
        },
        "filter": {**data, "manifest": out / "manifest.csv", "report": out / "filter.json"},
    }
    filter.main(["--params", pfile, *argv_of(cmd["filter"])])
    shutil.copyfile(out / "manifest.csv", out / "kept.csv")  # the fuzzed filter runs rewrite it
    ckpt = stage_one / "checkpoint.pt"
    cmd["build_tensor"] = {
        "manifest": out / "kept.csv",
        "lpd-root": data["lpd-root"],
        "midi-dir": data["midi-dir"],
        "tensor": out / "phrases.h5",
        "report": out / "build.json",
    }
    cmd["pretrain"] = {"discriminator": "proposed", "tensor": tensor, "out-dir": out / "p"}
    cmd["pretrain"]["snapshot-dir"] = out / "ps"
    cmd["train"] = {"experiment": "twostage_dbn", "tensor": tensor, "pretrained": ckpt}
    cmd["train"].update({"out-dir": out / "t", "snapshot-dir": out / "ts"})
    cmd["sample"] = {"checkpoint": ckpt, "tensor": tensor, "binarize": "ht", "out-dir": out / "s"}
    cmd["evaluate"] = {"phrases": tensor, "metrics": out / "metrics.json"}
    cmd["tables"] = {
        "metrics-dir": _metrics_tree(out / "evaluate"),
        "runs-dir": out,
        "reference": SHARED / "spec" / "paper_reference.csv",
        "out-dir": out / "tables",
    }
    (out / "tables_in").mkdir()
    (out / "filter.json").exists() or (out / "filter.json").write_text("{}")
    cmd["report"] = {
        "tables-dir": out / "tables_in",
        "samples-dir": out,
        "runs-dir": out,
        "reference-runs": SHARED / "spec" / "reference_runs" / "training_progress",
        "logs-dir": out,
        "tensor": tensor,
        "filter-report": out / "filter.json",
        "build-report": out / "filter.json",
        "out-dir": out / "report",
    }
    return {name: ["--params", pfile, *argv_of(values)] for name, values in cmd.items()}


def exit_status(main, argv: list[str], capsys) -> tuple[int | str | None, str]:
    """Run ``main(argv)``; return its exit status (0 when it returns) and its stderr."""
    capsys.readouterr()
    try:
        main(argv)
        code: int | str | None = 0
    except SystemExit as stop:
        code = stop.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "option", "what"), [c for c in cases(INPUTS) if c not in NOT_MISTAKES]
)
def test_a_mistaken_input_exits_2_with_one_line(tmp_path, valid, capsys, command, option, what):
    bad = mistake(tmp_path, option, what)
    code, err = exit_status(
        MAINS[command], replace_option(valid[command], option, str(bad)), capsys
    )
    assert code == 2, (code, err[-2000:])
    errors = [line for line in err.splitlines() if " ERROR " in line]
    assert len(errors) == 1, err[-2000:]
    assert str(bad) in errors[0], errors[0]


@pytest.mark.parametrize("command", sorted(MAINS))
def test_unknown_and_missing_options_are_usage_errors(valid, capsys, command):
    code, err = exit_status(MAINS[command], [*valid[command], "--colour", "red"], capsys)
    assert (code, err.splitlines()[-1].split(": error: ")[-1]) == (
        2,
        "unrecognized arguments: --colour red",
    )
    argv = valid[command]
    without_last = argv[: len(argv) - 2]  # every stage's last option is required
    code, err = exit_status(MAINS[command], without_last, capsys)
    assert code == 2 and "the following arguments are required" in err, err


@pytest.mark.parametrize("what", ["missing", "a folder", "empty", "random bytes", "a list"])
def test_stage_reports(tmp_path, what):
    """The report stage's filter and build_tensor reports: a bad one is a ValueError naming it,
    which report.main turns into one line and exit status 2."""
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"n_files": 3, "n_kept": 2, "songs_used": 2, "phrases": 12}))
    if what == "a list":
        bad = tmp_path / "list.json"
        bad.write_text("[1, 2]")
    else:
        bad = mistake(tmp_path / "bad", "file", what)
    assert provenance.data_counts(good, good)["phrases (build_tensor)"] == 12
    for pair in ((bad, good), (good, bad)):
        with pytest.raises(ValueError) as error:
            provenance.data_counts(*pair)
        assert str(error.value).startswith(f"{bad}: ") and "\n" not in str(error.value)
