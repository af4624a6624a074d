# Included before `configfile:`: params.yaml, and each file given with --configfile as an overlay
# of it, are checked by the same functions every stage's main() and pipeline.dvc_flags use, so a
# bad file (a YAML syntax error, a wrong or unknown key) stops Snakemake before any job with exit
# status 2 and the same one-line message naming the file and the key, instead of Snakemake's own
# YAML error or a traceback.

import os
import sys

from pipeline.config import ConfigError, load_params

BASE_PARAMS = "params.yaml"  # the Snakefile's configfile:, the file DVC reads
OVERLAYS = [os.path.relpath(f) for f in workflow.overwrite_configfiles or []]


def exit_on_config_error(load):
    """Run ``load()``; on a ConfigError print its message and exit with status 2."""
    try:
        return load()
    except ConfigError as error:
        sys.stderr.write(f"{error}\n")
        sys.exit(2)


exit_on_config_error(lambda: load_params(BASE_PARAMS, OVERLAYS))
