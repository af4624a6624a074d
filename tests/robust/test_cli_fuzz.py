"""Command-line fuzz (tests/robust/cli_fuzz.py): each mistaken input of each stage's command line
ends in exit status 2 with one error line naming the path, never a traceback; the same for
``pipeline.dvc_flags``, ``pipeline.models`` and the benchmarks' argument parsing.

In-process (``main(argv)``, SystemExit caught), as tests/robust/test_damaged_files.py does: one
process per case would cost seconds each.
"""

from __future__ import annotations

import importlib
import json
import shutil
import sys
from pathlib import Path

import pytest

from pipeline import dvc_flags
from pipeline.config import Params
from pipeline.models.__main__ import main as models_main
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
from tests.dag.dag_tools import REPO, SHARED
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
        "reference": REPO / "data" / "reference" / "paper_reference.csv",
        "out-dir": out / "tables",
    }
    (out / "tables_in").mkdir()
    (out / "filter.json").exists() or (out / "filter.json").write_text("{}")
    cmd["report"] = {
        "tables-dir": out / "tables_in",
        "samples-dir": out,
        "runs-dir": out,
        "reference-runs": REPO / "data" / "reference" / "training_progress",
        "logs-dir": out,
        "tensor": tensor,
        "filter-report": out / "filter.json",
        "build-report": out / "filter.json",
        "models-dir": REPO / "models",
        "out-dir": out / "report",
    }
    return {name: ["--params", pfile, *argv_of(values)] for name, values in cmd.items()}


# Outputs: a folder where a file goes (or a file where a folder goes), and a path under a file.
OUTPUTS = {
    "index_sources": [Option("listing", F)],
    "filter": [Option("manifest", F), Option("report", F)],
    "build_tensor": [Option("tensor", F), Option("report", F)],
    "pretrain": [Option("out-dir", D)],
    "train": [Option("out-dir", D)],
    "sample": [Option("out-dir", D)],
    "evaluate": [Option("metrics", F)],
    "tables": [Option("out-dir", D)],
}


def output_cases() -> list[tuple[str, str, str]]:
    out = []
    for command, opts in OUTPUTS.items():
        for opt in opts:
            wrong = "a folder" if opt.kind == F else "a file"
            out += [(command, opt.name, wrong), (command, opt.name, "under a file")]
    return out


def exit_status(main, argv: list[str], capsys) -> tuple[int | str | None, str]:
    """Run ``main(argv)``; return its exit status (0 when it returns) and its stderr."""
    capsys.readouterr()
    try:
        main(argv)
        code: int | str | None = 0
    except SystemExit as stop:
        code = stop.code
    return code, capsys.readouterr().err


def exits_2_naming(main, argv: list[str], capsys, bad: Path) -> None:
    """``main(argv)`` exits 2 with exactly one error line, and that line names ``bad``."""
    code, err = exit_status(main, argv, capsys)
    assert code == 2, (code, err[-2000:])
    errors = [line for line in err.splitlines() if " ERROR " in line]
    assert len(errors) == 1, err[-2000:]
    assert str(bad) in errors[0], errors[0]


@pytest.mark.parametrize(
    ("command", "option", "what"), [c for c in cases(INPUTS) if c not in NOT_MISTAKES]
)
def test_a_mistaken_input_exits_2_with_one_line(tmp_path, valid, capsys, command, option, what):
    bad = mistake(tmp_path, option, what)
    exits_2_naming(MAINS[command], replace_option(valid[command], option, str(bad)), capsys, bad)


@pytest.mark.parametrize(("command", "option", "what"), output_cases())
def test_a_mistaken_output_exits_2_with_one_line(tmp_path, valid, capsys, command, option, what):
    if what == "under a file":
        (tmp_path / "file").write_text("")
        bad = tmp_path / "file" / "out"
    else:
        bad = mistake(tmp_path, "dir" if what == "a file" else "file", what)
    exits_2_naming(MAINS[command], replace_option(valid[command], option, str(bad)), capsys, bad)


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


# --------------------------------------------------------------------------------------------
# pipeline.dvc_flags, pipeline.models and the benchmarks' argument parsing
# --------------------------------------------------------------------------------------------


def one_line_exit_2(main, argv: list[str], capsys, *words: str) -> str:
    """``main(argv)`` exits 2; its stderr ends in one error line naming each of ``words``."""
    code, err = exit_status(main, argv, capsys)
    assert code == 2, (code, err[-2000:])
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert "error: " in last, err
    for word in words:
        assert word in last, (word, last)
    return last


@pytest.mark.parametrize("what", ["missing", "a folder", "empty", "random bytes", "unknown key"])
def test_dvc_flags_mistakes(tmp_path, capsys, what):
    if what == "unknown key":
        bad = tmp_path / "overlay.yaml"
        bad.write_text("pretrain:\n  epochs: 20\n")
    else:
        bad = mistake(tmp_path, "file", what)
    one_line_exit_2(dvc_flags.main, [str(bad)], capsys, str(bad))
    paper = str(REPO / "configs" / "paper.yaml")
    one_line_exit_2(dvc_flags.main, [paper, "--base", str(bad)], capsys, str(bad))


@pytest.mark.parametrize(
    "argv",
    [["--z-dim", "0"], ["--n-tracks", "-1"], ["--z-dim", "x"], ["--network", "Q"], ["--colour"]],
)
def test_models_summary_mistakes(capsys, argv):
    one_line_exit_2(models_main, ["--summary", *argv], capsys)


def load_benchmark(name: str):
    """A benchmark script as a module (benchmarks/ is a folder of scripts, not a package)."""
    folder = str(REPO / "benchmarks")
    if folder not in sys.path:
        sys.path.insert(0, folder)  # bench_refiner imports bench_models, as when run as a script
    return importlib.import_module(name)


BENCHMARK_MISTAKES = {
    "bench_compression": [["--n", "-1"], ["--repeat", "0"], ["--tensor", "{missing}"]],
    "bench_data": [["--small", "0"], ["--lpd-root", "{missing}"], ["--lpd-root", "{file}"]],
    "bench_metrics": [["--phrases", "-5"], ["--chunk", "0"], ["--tensor", "{folder}"]],
    "bench_models": [["--batch", "0"], ["--reps", "-1"], ["--device", "tpu"]],
    "bench_refiner": [["--batch", "0"], ["--reps", "x"]],
    "bench_synth": [["{missing}"], ["{folder}"], ["{file}", "extra"]],
    "bench_training": [["--iterations", "0"], ["--batch-scale", "-1"], ["--batch-scale", "nan"]],
    "paper_flops": [["--overlay", "{missing}"], ["--overlay", "{bad_yaml}"]],
    "recalibration": [
        ["--checkpoint", "{missing}"],
        ["--checkpoint", "{file}"],
        ["--checkpoint", "{file}", "--draws", "0"],
        ["--checkpoint", "{file}", "--phrases", "1024,x"],
        ["--checkpoint", "{file}", "--phrases", "8"],
    ],
}
PARAMS_MISTAKES = ["{missing}", "{folder}", "{bad_yaml}"]


def benchmark_cases() -> list[tuple[str, list[str]]]:
    out = [(name, argv) for name, argvs in BENCHMARK_MISTAKES.items() for argv in argvs]
    out += [(name, ["--colour"]) for name in BENCHMARK_MISTAKES]
    out += [
        (n, ["--params", p]) for n in ("bench_metrics", "bench_training") for p in PARAMS_MISTAKES
    ]
    return out


@pytest.mark.parametrize(("name", "argv"), benchmark_cases())
def test_benchmark_argument_mistakes(tmp_path, capsys, name, argv):
    paths = {
        "missing": tmp_path / "absent.h5",
        "folder": tmp_path,
        "file": tmp_path / "file.txt",
        "bad_yaml": tmp_path / "bad.yaml",
    }
    paths["file"].write_text("x")
    paths["bad_yaml"].write_text("optim: [unclosed\n")
    argv = [a.format(**paths) for a in argv]
    one_line_exit_2(load_benchmark(name).main, argv, capsys)
