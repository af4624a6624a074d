# The experiment DAG for Snakemake: the same stages and the identical commands as dvc.yaml
# (tests/dag/test_dag_parity.py checks it). Run: snakemake --cores 2
# After a Snakemake run, `dvc commit -f` records it for DVC; only one orchestrator runs in a
# checkout at a time (docs/running.md).


include: "workflow/rules/validate.smk"


configfile: "params.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/conditional.smk"


rule all:
    input:
        "outputs/tables/table1.md",
        "outputs/tables/table2.md",
        "outputs/report",
        COND_OUTPUTS,  # empty unless conditional.pretrain / .experiments list runs
