# Shared by every rule file: config validation and path helpers. No rule lives here.

import glob
import os

import yaml

from snakemake.logging import logger

from pipeline.config import params_digest, params_from_dict

# The same validation as every stage's main(), of the config as Snakemake holds it (with any
# --config overrides): a bad value fails before any job starts (exit_on_config_error: validate.smk).
PARAMS = exit_on_config_error(lambda: params_from_dict(config, PARAMS_FILE))
logger.info(f"params: {PARAMS_FILE} (digest {params_digest(PARAMS)})")

# The experiment, sample and evaluation sets are defined once, in dvc.yaml's vars, and read here,
# so the two orchestrators cannot drift apart.
with open("dvc.yaml") as _f:
    DVC_VARS = {k: v for block in yaml.safe_load(_f)["vars"] for k, v in block.items()}
EXPERIMENTS = DVC_VARS["experiments"]
SAMPLE_SETS = DVC_VARS["sample_sets"]
EVALUATE_SETS = DVC_VARS["evaluate_sets"]
DISCRIMINATOR_RUNS = ["proposed", "ablated", "baseline"]


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

    Snakemake does not see imported modules, so every rule lists its code as input (DVC lists the
    same folders as deps).
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
