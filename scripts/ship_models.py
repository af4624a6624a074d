"""Copy the CPU setting's trained models into ``models/``, with their curves and learning scores.

    python scripts/ship_models.py [RUN_DIR] [MODELS_DIR] [NAME ...]

RUN_DIR is a checkout where ``configs/cpu.yaml``'s models were trained (models/README.md,
"Retraining"; default: this checkout); MODELS_DIR defaults to ``models``; NAMEs pick shipped
models by name (default: all of ``SHIPPED``, so a retrained stage one can be shipped alone). For
each shipped model
it writes the weights-only export (``pipeline.export_weights``: no optimizer state),
``curves/<name>.csv`` (the run's monitoring curve, drawn on the results page beside the original
run's) and ``learning/<name>.json`` plus ``.md`` (``benchmarks/learning.py``: the learning score
beside the training data and an untrained model of the same networks). It prints each model's
score; a model that fails it is still copied, and the script exits with status 1.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from benchmarks import learning
from pipeline.io import write_json, write_text
from pipeline.training.checkpoint import export_weights

# shipped name -> the run's output folder under RUN_DIR
SHIPPED = {
    "pretrain_proposed_cpu": "outputs/pretrain/proposed",
    "twostage_dbn_cpu": "outputs/train/twostage_dbn",
    "conditional_proposed_cpu": "outputs/pretrain_conditional/proposed",
}
TENSOR = "outputs/build_tensor/phrases.h5"


def ship(run_dir: Path, models: Path, names: list[str]) -> bool:
    """Export, copy and score the shipped models ``names``; True when all pass the score."""
    all_passed = True
    for name in names:
        out = SHIPPED[name]
        export_weights(run_dir / out / "checkpoint.pt", models / f"{name}.pt")
        (models / "curves").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run_dir / out / "monitor.csv", models / "curves" / f"{name}.csv")
        result = learning.score(models / f"{name}.pt", run_dir / TENSOR, 512, 0, "ht")
        write_json(models / "learning" / f"{name}.json", result)
        table = learning.table(result)
        write_text(models / "learning" / f"{name}.md", table + "\n")
        print(f"{name}: {'passed' if result['passed']['model'] else 'FAILED'}\n{table}\n")
        all_passed &= result["passed"]["model"]
    return all_passed


def main(argv: list[str]) -> int:
    run_dir = Path(argv[0]) if argv else Path(".")
    models = Path(argv[1]) if len(argv) > 1 else Path("models")
    names = argv[2:] or list(SHIPPED)
    if unknown := [n for n in names if n not in SHIPPED]:
        print(f"unknown model(s) {unknown}; shipped: {list(SHIPPED)}", file=sys.stderr)
        return 2
    return 0 if ship(run_dir, models, names) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
