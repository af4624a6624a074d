# Stage report: one HTML page of the run (outputs/report/index.html), assets beside it.


rule report:
    input:
        code=code(
            "stages/report.py",
            "cli.py",
            "errors.py",
            "lock.py",
            "config.py",
            "io.py",
            "report",
            "export",
            "training/checkpoint.py",
            "training/checkpoint_check.py",
            "training/conditional.py",
            "training/experiments.py",
            "training/networks.py",
            "training/run.py",
            "models",
            "data/labels.py",
            "data/phrase_file.py",
        ),
        reference_runs=config["paths"]["reference_runs"],
        tables=[
            "outputs/tables/table1.csv",
            "outputs/tables/table2.csv",
            "outputs/tables/table1.md",
            "outputs/tables/table_modern.csv",
        ],
        tensor="outputs/build_tensor/phrases.h5",
        filter_report="outputs/filter/report.json",
        build_report="outputs/build_tensor/report.json",
        grids=expand("outputs/sample/{s}/grid.png", s=SAMPLE_SETS),
        audio=expand("outputs/sample/{s}/audio", s=SAMPLE_SETS),
        curves=expand("outputs/pretrain/{r}/monitor.csv", r=DISCRIMINATOR_RUNS)
        + expand("outputs/train/{e}/monitor.csv", e=EXPERIMENTS),
        shipped_curves="models/curves",
    output:
        report(
            directory("outputs/report"),
            htmlindex="index.html",
            caption="../report/page.rst",
            category="Results page",
        ),
    log:
        "logs/report.log",
    params:
        params_file=params_file,
        values={k: config["sample"][k] for k in ("n_grid", "n_audio", "tempo")},
        modes=config["metrics"]["modes"],
    shell:
        "python -m pipeline.stages.report --params {params.params_file}"
        " --tables-dir outputs/tables --samples-dir outputs/sample --runs-dir outputs"
        " --reference-runs {input.reference_runs} --logs-dir logs"
        " --tensor {input.tensor}"
        " --filter-report {input.filter_report} --build-report {input.build_report}"
        " --models-dir models --out-dir outputs/report --log {log}"
