# Included before `configfile:`: the params file is checked by the same function every stage's
# main() uses, so a bad file (a YAML syntax error, a wrong key) stops Snakemake before any job with exit
# status 2 and the same one-line message, instead of Snakemake's own YAML error.

import os
import sys

from pipeline.config import ConfigError, load_params

# The params file every stage reads: params.yaml, or the file given with --configfile (e.g.
# `snakemake --configfile configs/paper.yaml`), so the stages read exactly what Snakemake resolved.
PARAMS_FILE = (
    os.path.relpath(workflow.overwrite_configfiles[-1])
    if workflow.overwrite_configfiles
    else "params.yaml"
)


def exit_on_config_error(load):
    """Run ``load()``; on a ConfigError print its message and exit with status 2."""
    try:
        return load()
    except ConfigError as error:
        sys.stderr.write(f"{error}\n")
        sys.exit(2)


exit_on_config_error(lambda: load_params(PARAMS_FILE))
