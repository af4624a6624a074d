# Stages index_sources, filter and build_tensor: raw LPD (or MIDI) to the HDF5 training tensor.


rule index_sources:
    # DVC runs this stage every time (always_changed); Snakemake when a source folder is newer
    # than the listing (pipeline/stages/index_sources.py).
    input:
        code=code("stages/index_sources.py"),
        lpd_root=config["paths"]["lpd_root"],
        midi_dir=config["paths"]["midi_dir"],
    output:
        listing="outputs/index_sources/listing.tsv",
    log:
        "logs/index_sources.log",
    params:
        params_file=params_file,
    shell:
        "python -m pipeline.stages.index_sources --params {params.params_file}"
        " --lpd-root {input.lpd_root} --midi-dir {input.midi_dir}"
        " --listing {output.listing} --log {log}"


rule filter:
    input:
        code=code("stages/filter.py", "data", "config.py"),
        listing="outputs/index_sources/listing.tsv",
        cleansed_ids=config["paths"]["cleansed_ids"],
        lastfm_dir=config["paths"]["lastfm_dir"],
    output:
        manifest="outputs/filter/manifest.csv",
        report="outputs/filter/report.json",
    log:
        "logs/filter.log",
    params:
        params_file=params_file,
        lpd_root=config["paths"]["lpd_root"],
        midi_dir=config["paths"]["midi_dir"],
        source=config["filter"]["source"],
        tag=config["filter"]["tag"],
        min_bars=config["filter"]["min_bars"],
        max_song_steps=config["filter"]["max_song_steps"],
        max_midi_bytes=config["filter"]["max_midi_bytes"],
    shell:
        "python -m pipeline.stages.filter --params {params.params_file}"
        " --lpd-root {params.lpd_root} --cleansed-ids {input.cleansed_ids}"
        " --lastfm-dir {input.lastfm_dir} --midi-dir {params.midi_dir}"
        " --manifest {output.manifest} --report {output.report}"
        " --log {log}"


rule build_tensor:
    input:
        code=code("stages/build_tensor.py", "data", "config.py"),
        manifest="outputs/filter/manifest.csv",
        listing="outputs/index_sources/listing.tsv",
    output:
        tensor="outputs/build_tensor/phrases.h5",
        report="outputs/build_tensor/report.json",
    log:
        "logs/build_tensor.log",
    params:
        params_file=params_file,
        lpd_root=config["paths"]["lpd_root"],
        midi_dir=config["paths"]["midi_dir"],
        values={k: v for k, v in config["build_tensor"].items() if k != "workers"},
        bounds=[config["filter"][k] for k in ("max_song_steps", "max_midi_bytes")],
    shell:
        "python -m pipeline.stages.build_tensor --params {params.params_file}"
        " --manifest {input.manifest}"
        " --lpd-root {params.lpd_root} --midi-dir {params.midi_dir}"
        " --tensor {output.tensor} --report {output.report}"
        " --log {log}"
