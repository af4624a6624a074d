"""Metric curves along training, ours beside the original runs' (the paper's Figs. 9 and 11).

Ours come from each run's ``monitor.csv``; the original's from
``data/reference/training_progress/*.npz`` (docs/model.md, section 7.4: ``steps`` are global steps,
``score_matrix_means`` (N, 7, 8) in metric order [EB, UP, QN, PP, IS, DP, NCU], and
``score_pair_matrix_means`` (N, 1) the Piano-Guitar TD). Both are drawn against the **global
step** (critic + generator updates), the axis the original logs use; stage-two steps restart at
0 in both. Aggregation as in docs/model.md, section 5.6: QN and PP are the nanmean over tracks,
EB the mean.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.io import atomic_path  # noqa: E402

PANELS = [
    ("QN", "qualified_note_rate"),
    ("PP", "polyphonicity"),
    ("TD", "tonal_distance"),
    ("EB", "empty_bar_rate"),
]
METRIC_ROW = {"EB": 0, "QN": 2, "PP": 3}  # rows of score_matrix_means
# Our runs and the original run each mirrors (salu133445/bmusegan analysis/data names).
REFERENCE_FILES = {
    "pretrain/proposed": "lastfm_alternative_pretrain_g_proposed_d_proposed",
    "pretrain/ablated": "lastfm_alternative_pretrain_g_proposed_d_ablated",
    "pretrain/baseline": "lastfm_alternative_pretrain_g_proposed_d_baseline",
    "train/twostage_dbn": "lastfm_alternative_train_g_proposed_d_proposed_r_proposed_round",
    "train/twostage_sbn": "lastfm_alternative_train_g_proposed_d_proposed_r_proposed_bernoulli",
    "train/joint_dbn": "lastfm_alternative_train_joint_g_proposed_d_proposed_r_proposed_round",
    "train/joint_sbn": "lastfm_alternative_train_joint_g_proposed_d_proposed_r_proposed_bernoulli",
    "train/end2end_dbn": "lastfm_alternative_end2end_g_proposed_small_d_proposed_r_proposed_round",
    "train/end2end_sbn": (
        "lastfm_alternative_end2end_g_proposed_small_d_proposed_r_proposed_bernoulli"
    ),
}


# The shipped models' monitoring curves (models/curves/<name>.csv) and the original run each
# mirrors.
SHIPPED_FILES = {
    "pretrain_proposed_cpu": REFERENCE_FILES["pretrain/proposed"],
    "twostage_dbn_cpu": REFERENCE_FILES["train/twostage_dbn"],
}


def read_reference(path: Path) -> pd.DataFrame:
    """One original run's progress file as columns step, QN, PP, TD, EB."""
    try:
        data = np.load(path)
        steps, scores = data["steps"], data["score_matrix_means"]
        pair = data["score_pair_matrix_means"]
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(f"{path}: not a training-progress file ({error})") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows stay NaN
        columns = {k: np.nanmean(scores[:, row, :], axis=1) for k, row in METRIC_ROW.items()}
    columns["EB"] = scores[:, 0, :].mean(axis=1)
    return pd.DataFrame({"step": steps, **columns, "TD": pair[:, 0]})


def read_ours(path: Path) -> pd.DataFrame:
    """One of our runs' ``monitor.csv`` as columns step, QN, PP, TD, EB."""
    try:
        data = pd.read_csv(path)
    except (OSError, pd.errors.ParserError) as error:
        raise ValueError(f"{path}: cannot read the monitoring curve ({error})") from None
    missing = [c for c in ["step"] + [c for _, c in PANELS] if c not in data]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    return pd.DataFrame({"step": data["step"], **{k: data[c] for k, c in PANELS}})


def plot_run(ours: pd.DataFrame, reference: pd.DataFrame, title: str, out_png: Path) -> None:
    """Four panels (QN, PP, TD, EB against global step), our curve and the original's."""
    fig, axes = plt.subplots(1, len(PANELS), figsize=(13, 2.8))
    for ax, (name, _) in zip(axes, PANELS, strict=True):
        ref = reference.dropna(subset=[name])
        ax.plot(ref["step"], ref[name], color="0.55", linewidth=0.8, label="original run")
        own = ours.dropna(subset=[name])
        ax.plot(own["step"], own[name], color="tab:red", marker=".", linewidth=1, label="ours")
        ax.set_xscale("symlog", linthresh=100)
        ax.set_xlabel("global step")
        ax.set_title(name, fontsize=9)
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=90, metadata={"Software": None})
    plt.close(fig)


def write_curves(
    runs_dir: Path, reference_dir: Path, out_dir: Path, shipped_dir: Path | None = None
) -> dict[str, Path]:
    """One PNG per run under ``out_dir``, this run's and (from ``shipped_dir``, the shipped
    models' curves folder) the shipped models'; returns {run: png path}."""
    sources = {run: (runs_dir / run / "monitor.csv", ref) for run, ref in REFERENCE_FILES.items()}
    if shipped_dir is not None:
        for name, ref in SHIPPED_FILES.items():
            sources[f"shipped/{name}"] = (shipped_dir / f"{name}.csv", ref)
    written = {}
    for run, (curve, ref_name) in sources.items():
        ours = read_ours(curve)
        reference = read_reference(reference_dir / f"{ref_name}.npz")
        png = out_dir / f"{run.replace('/', '_')}.png"
        plot_run(ours, reference, f"{run} (ours) and {ref_name} (original)", png)
        written[run] = png
    return written


PAPER_RUN_STAGES = ("pretrain", "train")  # the runs whose curves stage tables draws


def read_curves(runs_dir: Path) -> dict[str, pd.DataFrame]:
    """The monitoring curves of the paper's training runs, keyed ``<stage>/<run>``.

    Only stages ``pretrain`` and ``train``: their runs are upstream of the metrics this stage
    reads, so they exist whenever it runs. Other runs under ``runs_dir`` (the track-conditional
    ones, with their own tables) are not, and whether they exist yet would depend on the order
    the scheduler picked.
    """
    return {
        f"{stage}/{path.parent.name}": pd.read_csv(path)
        for stage in PAPER_RUN_STAGES
        for path in sorted((runs_dir / stage).glob("*/monitor.csv"))
    }


def plot_curves(data: pd.DataFrame, run_name: str, out_png: Path) -> None:
    """EB, QN and PP of the fixed monitoring batch along training (the paper's Figs. 9 and 11).

    QN and PP are undefined while every monitored bar is empty (an early stage-one generator
    binarized by HT, say); the panel then says so instead of staying blank.
    """
    panels = [("empty_bar_rate", "EB"), ("qualified_note_rate", "QN"), ("polyphonicity", "PP")]
    fig, axes = plt.subplots(1, len(panels), figsize=(11, 3))
    for ax, (key, name) in zip(axes, panels, strict=True):
        defined = data.dropna(subset=[key])
        if defined.empty:
            ax.text(
                0.5,
                0.5,
                "undefined:\nevery monitored bar is empty",
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
        else:
            ax.plot(defined["iteration"], defined[key], marker=".", linewidth=1)
        ax.set_xlabel("iteration")
        ax.set_title(f"{name} ({run_name})")
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
