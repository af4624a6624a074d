# Stages filter and build_tensor: raw LPD (or MIDI) to the HDF5 training tensor.


rule filter:
    input:
        code=code("stages/filter.py", "data", "config.py"),
        lpd_root=config["paths"]["lpd_root"],
        cleansed_ids=config["paths"]["cleansed_ids"],
        lastfm_dir=config["paths"]["lastfm_dir"],
        midi_dir=config["paths"]["midi_dir"],
    output:
        manifest="outputs/filter/manifest.csv",
        report="outputs/filter/report.json",
    log:
        "logs/filter.log",
    params:
        params_file=PARAMS_FILE,
        source=config["filter"]["source"],
        tag=config["filter"]["tag"],
        min_bars=config["filter"]["min_bars"],
        max_song_steps=config["filter"]["max_song_steps"],
        max_midi_bytes=config["filter"]["max_midi_bytes"],
    shell:
        "python -m pipeline.stages.filter --params {params.params_file}"
        " --lpd-root {input.lpd_root} --cleansed-ids {input.cleansed_ids}"
        " --lastfm-dir {input.lastfm_dir} --midi-dir {input.midi_dir}"
        " --manifest {output.manifest} --report {output.report}"
        " --log {log}"


rule build_tensor:
    input:
        code=code("stages/build_tensor.py", "data", "config.py"),
        manifest="outputs/filter/manifest.csv",
        lpd_root=config["paths"]["lpd_root"],
        midi_dir=config["paths"]["midi_dir"],
    output:
        tensor="outputs/build_tensor/phrases.h5",
        report="outputs/build_tensor/report.json",
    log:
        "logs/build_tensor.log",
    params:
        params_file=PARAMS_FILE,
        values={k: v for k, v in config["build_tensor"].items() if k != "workers"},
        bounds=[config["filter"][k] for k in ("max_song_steps", "max_midi_bytes")],
    shell:
        "python -m pipeline.stages.build_tensor --params {params.params_file}"
        " --manifest {input.manifest}"
        " --lpd-root {input.lpd_root} --midi-dir {input.midi_dir}"
        " --tensor {output.tensor} --report {output.report}"
        " --log {log}"
