# Track-conditional runs (ours, docs/accompany.md): off by default. The lists are the
# params conditional.pretrain and conditional.experiments, empty by default (so rule all asks for
# nothing here); dvc.yaml's foreach reads the same lists.

COND_PRETRAIN = config["conditional"]["pretrain"]
COND_EXPERIMENTS = config["conditional"]["experiments"]
COND_TRACK = config["conditional"]["track"]
COND_OUTPUTS = expand(
    "outputs/pretrain_conditional/{r}/checkpoint.pt", r=COND_PRETRAIN
) + expand("outputs/evaluate_conditional/{e}/metrics.json", e=COND_EXPERIMENTS)


wildcard_constraints:
    cond_run="|".join(COND_PRETRAIN) or "(?!)",
    cond_experiment="|".join(COND_EXPERIMENTS) or "(?!)",


rule pretrain_conditional:
    input:
        code=code(
            "stages/pretrain.py",
            "cli.py",
            "errors.py",
            "lock.py",
            "config.py",
            "io.py",
            "training",
            "models",
            "metrics",
            "data/labels.py",
            "data/phrase_check.py",
            "data/phrase_file.py",
        ),
        tensor="outputs/build_tensor/phrases.h5",
    output:
        checkpoint="outputs/pretrain_conditional/{cond_run}/checkpoint.pt",
        meta="outputs/pretrain_conditional/{cond_run}/meta.json",
        summary="outputs/pretrain_conditional/{cond_run}/summary.json",
        losses="outputs/pretrain_conditional/{cond_run}/log.csv",
        curves="outputs/pretrain_conditional/{cond_run}/monitor.csv",
    log:
        "logs/pretrain_conditional/{cond_run}.log",
    resources:
        gpu=1,
    params:
        params_file=params_file,
        training=TRAINING_PARAMS,
        pretrain={
            k: config["pretrain"][k]
            for k in ("generator", "batch_size", "n_iterations", "max_minutes")
        },
        track=COND_TRACK,
    shell:
        "python -m pipeline.stages.pretrain --params {params.params_file}"
        " --discriminator {wildcards.cond_run} --conditional --tensor {input.tensor}"
        " --out-dir outputs/pretrain_conditional/{wildcards.cond_run}"
        " --snapshot-dir snapshots/pretrain_conditional/{wildcards.cond_run}"
        " --log {log}"


rule train_conditional:
    input:
        code=code(
            "stages/train.py",
            "cli.py",
            "errors.py",
            "lock.py",
            "config.py",
            "io.py",
            "training",
            "models",
            "metrics",
            "data/labels.py",
            "data/phrase_check.py",
            "data/phrase_file.py",
        ),
        tensor="outputs/build_tensor/phrases.h5",
        init="outputs/pretrain_conditional/proposed/checkpoint.pt",
    output:
        checkpoint="outputs/train_conditional/{cond_experiment}/checkpoint.pt",
        meta="outputs/train_conditional/{cond_experiment}/meta.json",
        summary="outputs/train_conditional/{cond_experiment}/summary.json",
        losses="outputs/train_conditional/{cond_experiment}/log.csv",
        curves="outputs/train_conditional/{cond_experiment}/monitor.csv",
    log:
        "logs/train_conditional/{cond_experiment}.log",
    resources:
        gpu=1,
    params:
        params_file=params_file,
        training=TRAINING_PARAMS,
        estimator=config["model"]["estimator"],
        slope_rate=config["optim"]["slope_rate"],
        batch_size=config["train"]["batch_size"],
        length=config["train"]["n_iterations"],
        max_minutes=config["train"]["max_minutes"],
        track=COND_TRACK,
    shell:
        "python -m pipeline.stages.train --params {params.params_file}"
        " --experiment {wildcards.cond_experiment} --conditional --tensor {input.tensor}"
        " --pretrained {input.init}"
        " --out-dir outputs/train_conditional/{wildcards.cond_experiment}"
        " --snapshot-dir snapshots/train_conditional/{wildcards.cond_experiment}"
        " --log {log}"


rule sample_conditional:
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
        checkpoint="outputs/train_conditional/{cond_experiment}/checkpoint.pt",
        tensor="outputs/build_tensor/phrases.h5",
    output:
        phrases="outputs/sample_conditional/{cond_experiment}/phrases.h5",
        grid="outputs/sample_conditional/{cond_experiment}/grid.png",
        midi=directory("outputs/sample_conditional/{cond_experiment}/midi"),
        audio=directory("outputs/sample_conditional/{cond_experiment}/audio"),
    log:
        "logs/sample_conditional/{cond_experiment}.log",
    resources:
        gpu=1,
    params:
        params_file=params_file,
        values={
            k: config["sample"][k]
            for k in (
                "seed",
                "batch_size",
                "n_phrases_binary",
                "n_midi",
                "n_grid",
                "n_audio",
                "tempo",
            )
        },
    shell:
        "python -m pipeline.stages.sample --params {params.params_file} --conditional"
        " --checkpoint {input.checkpoint} --tensor {input.tensor}"
        " --out-dir outputs/sample_conditional/{wildcards.cond_experiment}"
        " --log {log}"


rule evaluate_conditional:
    input:
        code=code(
            "stages/evaluate_conditional.py",
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
        phrases="outputs/sample_conditional/{cond_experiment}/phrases.h5",
        tensor="outputs/build_tensor/phrases.h5",
    output:
        table="outputs/evaluate_conditional/{cond_experiment}/table.md",
        csv="outputs/evaluate_conditional/{cond_experiment}/table.csv",
        metrics="outputs/evaluate_conditional/{cond_experiment}/metrics.json",
    log:
        "logs/evaluate_conditional/{cond_experiment}.log",
    params:
        params_file=params_file,
        seed=config["sample"]["seed"],
        radii=config["metrics"]["tonal_radii"],
        chunk_size=config["metrics"]["chunk_size"],
    shell:
        "python -m pipeline.stages.evaluate_conditional --params {params.params_file}"
        " --phrases {input.phrases} --tensor {input.tensor}"
        " --out-dir outputs/evaluate_conditional/{wildcards.cond_experiment}"
        " --log {log}"
