# Stages sample, evaluate and tables: from trained models to the paper's tables.


rule sample:
    input:
        code=code(
            "stages/sample.py",
            "cli.py",
            "errors.py",
            "lock.py",
            "config.py",
            "io.py",
            "training",
            "models",
            "metrics",
            "export",
            "sampling.py",
            "data/labels.py",
            "data/phrase_check.py",
            "data/phrase_file.py",
        ),
        checkpoint=lambda w: SAMPLE_SETS[w.sample_set]["checkpoint"],
        tensor="outputs/build_tensor/phrases.h5",
    output:
        phrases="outputs/sample/{sample_set}/phrases.h5",
        grid=report(
            "outputs/sample/{sample_set}/grid.png",
            caption="../report/grid.rst",
            category="Samples",
            subcategory="{sample_set}",
        ),
        midi=directory("outputs/sample/{sample_set}/midi"),
        audio=report(
            directory("outputs/sample/{sample_set}/audio"),
            patterns=["{name}.flac"],
            caption="../report/audio.rst",
            category="Samples",
            subcategory="{sample_set}",
        ),
    log:
        "logs/sample/{sample_set}.log",
    resources:
        gpu=1,
    params:
        params_file=params_file,
        binarize=lambda w: SAMPLE_SETS[w.sample_set]["binarize"],
        n_phrases=lambda w: config["sample"][SAMPLE_SETS[w.sample_set]["count"]],
        values={
            k: config["sample"][k]
            for k in ("seed", "batch_size", "n_midi", "n_grid", "n_audio", "tempo")
        },
    shell:
        "python -m pipeline.stages.sample --params {params.params_file}"
        " --checkpoint {input.checkpoint} --tensor {input.tensor}"
        " --binarize {params.binarize} --out-dir outputs/sample/{wildcards.sample_set}"
        " --log {log}"


# Every set but the training data also reads the training data's features file (mode modern's
# distances; dvc.yaml, vars evaluate_sets).
rule evaluate:
    input:
        code=code(
            "stages/evaluate.py",
            "cli.py",
            "errors.py",
            "lock.py",
            "config.py",
            "io.py",
            "metrics",
            "data/labels.py",
            "data/phrase_check.py",
            "data/phrase_file.py",
        ),
        phrases=lambda w: EVALUATE_SETS[w.eval_set]["phrases"],
        reference=lambda w: EVALUATE_SETS[w.eval_set]["reference"],
    output:
        metrics="outputs/evaluate/{eval_set}/metrics.json",
        features="outputs/evaluate/{eval_set}/features.json",
    log:
        "logs/evaluate/{eval_set}.log",
    params:
        params_file=params_file,
        args=lambda w: EVALUATE_SETS[w.eval_set]["args"],
        metrics={k: v for k, v in config["metrics"].items() if k != "chunk_size"},
    shell:
        "python -m pipeline.stages.evaluate --params {params.params_file}"
        " --phrases {input.phrases} --metrics {output.metrics}"
        " --features {output.features} {params.args}"
        " --log {log}"


rule tables:
    input:
        code=code(
            "stages/tables.py",
            "report/tables.py",
            "report/curves.py",
            "cli.py",
            "errors.py",
            "lock.py",
            "config.py",
            "io.py",
            "training/checkpoint.py",
            "training/checkpoint_check.py",
            "training/conditional.py",
            "training/experiments.py",
            "training/networks.py",
            "training/run.py",
            "models",
            "data/labels.py",
        ),
        reference=config["paths"]["paper_reference"],
        metrics=expand("outputs/evaluate/{s}/metrics.json", s=EVALUATE_SETS),
        shipped=SHIPPED_MODELS,
        curves=expand("outputs/pretrain/{r}/monitor.csv", r=DISCRIMINATOR_RUNS)
        + expand("outputs/train/{e}/monitor.csv", e=EXPERIMENTS),
        summaries=expand("outputs/pretrain/{r}/summary.json", r=DISCRIMINATOR_RUNS)
        + expand("outputs/train/{e}/summary.json", e=EXPERIMENTS),
    output:
        "outputs/tables/table1.md",
        report(
            "outputs/tables/table1.csv",
            caption="../report/table.rst",
            category="Tables",
        ),
        "outputs/tables/table2.md",
        report(
            "outputs/tables/table2.csv",
            caption="../report/table.rst",
            category="Tables",
        ),
        "outputs/tables/table_modern.md",
        report(
            "outputs/tables/table_modern.csv",
            caption="../report/table.rst",
            category="Tables",
        ),
        directory("outputs/tables/curves"),
    log:
        "logs/tables.log",
    params:
        params_file=params_file,
        modes=config["metrics"]["modes"],
    shell:
        "python -m pipeline.stages.tables --params {params.params_file}"
        " --metrics-dir outputs/evaluate --runs-dir outputs"
        " --reference {input.reference} --models-dir models --out-dir outputs/tables"
        " --log {log}"
