# Stages fetch, index_sources, filter and build_tensor: raw LPD (or MIDI) to the HDF5 training
# tensor.


# fetch needs the network (or the local copy), which a cluster's compute nodes may lack.
localrules:
    fetch,


rule fetch:
    # data/lpd is not declared as an output: Snakemake deletes a rule's outputs before running
    # it, while fetch keeps what is there and gets only what is missing (DVC: persist). The rules
    # that read data/lpd depend on the report instead (source_input, common.smk).
    input:
        code=code(
            "stages/fetch.py",
            "cli.py",
            "errors.py",
            "lock.py",
            "config.py",
            "io.py",
            "fetch",
            "data/lpd.py",
            "data/midi.py",
            "data/npz.py",
            "data/parallel.py",
            "data/song.py",
        ),
        sources="data/sources.yaml",
    output:
        report=FETCH_REPORT,
    log:
        "logs/fetch.log",
    params:
        params_file=params_file,
        dest=FETCH_DEST,
        values=config["fetch"],
    shell:
        "python -m pipeline.stages.fetch --params {params.params_file}"
        " --sources {input.sources}"
        " --dest {params.dest} --report {output.report} --log {log}"


rule index_sources:
    # DVC runs this stage every time (always_changed); Snakemake when fetch ran again or a source
    # folder outside data/lpd is newer than the listing (pipeline/stages/index_sources.py). The
    # MIDI folder counts only with filter.source: midi (an LPD run needs none).
    input:
        code=code(
            "stages/index_sources.py",
            "cli.py",
            "errors.py",
            "lock.py",
            "config.py",
            "io.py",
        ),
        fetched=FETCH_REPORT,
        lpd_root=source_input(config["paths"]["lpd_root"]),
        midi_dir=(
            config["paths"]["midi_dir"] if config["filter"]["source"] == "midi" else []
        ),
    output:
        listing="outputs/index_sources/listing.tsv",
    log:
        "logs/index_sources.log",
    params:
        params_file=params_file,
        lpd_root=config["paths"]["lpd_root"],
        midi_dir=config["paths"]["midi_dir"],
        source=config["filter"]["source"],
    shell:
        "python -m pipeline.stages.index_sources --params {params.params_file}"
        " --lpd-root {params.lpd_root} --midi-dir {params.midi_dir}"
        " --listing {output.listing} --log {log}"


rule filter:
    input:
        code=code(
            "stages/filter.py",
            "cli.py",
            "errors.py",
            "lock.py",
            "config.py",
            "io.py",
            "data",
        ),
        listing="outputs/index_sources/listing.tsv",
        cleansed_ids=source_input(config["paths"]["cleansed_ids"]),
        lastfm_dir=source_input(config["paths"]["lastfm_dir"]),
    output:
        manifest="outputs/filter/manifest.csv",
        report="outputs/filter/report.json",
    log:
        "logs/filter.log",
    params:
        params_file=params_file,
        lpd_root=config["paths"]["lpd_root"],
        cleansed_ids=config["paths"]["cleansed_ids"],
        lastfm_dir=config["paths"]["lastfm_dir"],
        midi_dir=config["paths"]["midi_dir"],
        source=config["filter"]["source"],
        tag=config["filter"]["tag"],
        min_bars=config["filter"]["min_bars"],
        max_song_steps=config["filter"]["max_song_steps"],
        max_midi_bytes=config["filter"]["max_midi_bytes"],
    shell:
        "python -m pipeline.stages.filter --params {params.params_file}"
        " --lpd-root {params.lpd_root} --cleansed-ids {params.cleansed_ids}"
        " --lastfm-dir {params.lastfm_dir} --midi-dir {params.midi_dir}"
        " --manifest {output.manifest} --report {output.report}"
        " --log {log}"


rule build_tensor:
    input:
        code=code(
            "stages/build_tensor.py",
            "cli.py",
            "errors.py",
            "lock.py",
            "config.py",
            "io.py",
            "data",
        ),
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
