# Stages pretrain (stage one, one run per discriminator) and train (stage two, joint, end-to-end).

TRAINING_PARAMS = {
    "model": {k: config["model"][k] for k in ("z_dim", "width", "batch_norm")},
    "optim": {
        k: v
        for k, v in config["optim"].items()
        if k not in ("device", "compile", "grouped", "snapshot_every", "slope_rate")
    },
}


rule pretrain:
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
        checkpoint="outputs/pretrain/{run}/checkpoint.pt",
        meta="outputs/pretrain/{run}/meta.json",
        summary="outputs/pretrain/{run}/summary.json",
        losses="outputs/pretrain/{run}/log.csv",
        curves="outputs/pretrain/{run}/monitor.csv",
    log:
        "logs/pretrain/{run}.log",
    resources:
        gpu=1,
    params:
        params_file=params_file,
        training=TRAINING_PARAMS,
        pretrain={
            k: config["pretrain"][k]
            for k in ("generator", "batch_size", "n_iterations", "max_minutes")
        },
    shell:
        "python -m pipeline.stages.pretrain --params {params.params_file}"
        " --discriminator {wildcards.run} --tensor {input.tensor}"
        " --out-dir outputs/pretrain/{wildcards.run} --snapshot-dir snapshots/pretrain/{wildcards.run}"
        " --log {log}"


rule train:
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
        init=lambda w: EXPERIMENTS[w.experiment]["init"],
    output:
        checkpoint="outputs/train/{experiment}/checkpoint.pt",
        meta="outputs/train/{experiment}/meta.json",
        summary="outputs/train/{experiment}/summary.json",
        losses="outputs/train/{experiment}/log.csv",
        curves="outputs/train/{experiment}/monitor.csv",
    log:
        "logs/train/{experiment}.log",
    resources:
        gpu=1,
    params:
        params_file=params_file,
        args=lambda w: EXPERIMENTS[w.experiment]["args"],
        training=TRAINING_PARAMS,
        estimator=config["model"]["estimator"],
        slope_rate=config["optim"]["slope_rate"],
        batch_size=config["train"]["batch_size"],
        length=lambda w: config["train"][EXPERIMENTS[w.experiment]["length"]],
        max_minutes=config["train"]["max_minutes"],
    shell:
        "python -m pipeline.stages.train --params {params.params_file}"
        " --experiment {wildcards.experiment} --tensor {input.tensor} {params.args}"
        " --out-dir outputs/train/{wildcards.experiment} --snapshot-dir snapshots/train/{wildcards.experiment}"
        " --log {log}"
