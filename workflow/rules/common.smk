# Shared by every rule file: config validation and path helpers. No rule lives here.

import glob
import os
from pathlib import Path

import yaml

from snakemake.logging import logger

from pipeline.config import (
    as_dict,
    load_params,
    overlay_source,
    params_digest,
    params_from_dict,
)
from pipeline.io import write_text

# The same validation as every stage's main(), of the config as Snakemake resolved it: params.yaml
# with each --configfile deep-merged over it (snakemake.utils.update_config, the merge that
# pipeline.config.merge_overlay mirrors for DVC) and any --config values on top. A bad value fails
# before any job starts (exit_on_config_error: validate.smk).
SOURCE = overlay_source(BASE_PARAMS, OVERLAYS)
if workflow.config_settings.config:
    SOURCE += " with --config"
PARAMS = exit_on_config_error(lambda: params_from_dict(config, SOURCE))


def resolved_params_file(params):
    """The params file every stage gets as --params: exactly the config Snakemake resolved.

    With no overlay (or one that changes nothing) that is params.yaml itself, so the commands are
    the ones dvc.yaml runs (tests/dag/test_dag_parity.py). Otherwise the merged, validated config
    is written to .snakemake/params/<digest>.yaml: the name follows the content, so a dry run with
    another overlay never rewrites a file a running job reads.
    """
    if as_dict(params) == as_dict(load_params(BASE_PARAMS)):
        return BASE_PARAMS
    path = f".snakemake/params/{params_digest(params)}.yaml"
    text = "# Written by workflow/rules/common.smk: the config Snakemake resolved.\n"
    text += yaml.safe_dump(as_dict(params), sort_keys=False)
    if not os.path.exists(path) or Path(path).read_text() != text:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_text(path, text)
    return path


PARAMS_FILE = resolved_params_file(PARAMS)
logger.info(f"params: {PARAMS_FILE} (digest {params_digest(PARAMS)})")


def params_file(wildcards, input):
    """PARAMS_FILE, for every rule's `params: params_file=params_file`.

    A function of `input` is a derived parameter, which Snakemake leaves out of its params rerun
    trigger: reruns follow the values each rule lists under `params:`,
    i.e. the file's content, never its name (params.yaml or .snakemake/params/<digest>.yaml).
    """
    return PARAMS_FILE


# The experiment, sample and evaluation sets are defined once, in dvc.yaml's vars, and read here,
# so the two orchestrators cannot drift apart.
with open("dvc.yaml") as _f:
    DVC_VARS = {k: v for block in yaml.safe_load(_f)["vars"] for k, v in block.items()}
EXPERIMENTS = DVC_VARS["experiments"]
SAMPLE_SETS = DVC_VARS["sample_sets"]
EVALUATE_SETS = DVC_VARS["evaluate_sets"]
DISCRIMINATOR_RUNS = ["proposed", "ablated", "baseline"]
# The shipped models the sample sets draw from (models/README.md).
SHIPPED_MODELS = sorted(
    {s["checkpoint"] for s in SAMPLE_SETS.values() if s["checkpoint"].startswith("models/")}
)


wildcard_constraints:
    run="|".join(DISCRIMINATOR_RUNS),
    experiment="|".join(EXPERIMENTS),
    sample_set="|".join(SAMPLE_SETS),
    eval_set="|".join(EVALUATE_SETS),


# Stage fetch's folder and report (rule fetch, data.smk).
FETCH_DEST = "data/lpd"
FETCH_REPORT = "outputs/fetch/report.json"


def source_input(path):
    """A source path as a rule input: fetch's report for a path inside data/lpd, else the path.

    data/lpd is not a declared output (rule fetch), so in a fresh clone its files exist only once
    fetch has run; depending on the report orders the rule after fetch and reruns it when fetch
    runs again. A path elsewhere (a full LPD download) is an input as before.
    """
    inside = os.path.normpath(path) + os.sep
    return FETCH_REPORT if inside.startswith(FETCH_DEST + os.sep) else path


def code(*parts):
    """The Python files a stage runs: each part is a module file or a package folder of pipeline/.

    Snakemake does not see imported modules, so every rule lists its code as input: its module and
    every pipeline module it imports, directly or not (DVC lists the same paths as deps;
    tests/dag/test_code_deps.py checks both).
    """
    files = []
    for part in parts:
        path = f"pipeline/{part}"
        files += (
            [path]
            if path.endswith(".py")
            else sorted(glob.glob(f"{path}/**/*.py", recursive=True))
        )
    return files
