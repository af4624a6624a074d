"""The ``dvc exp run -S`` flags that make ``params.yaml`` equal another params file, key for key.

DVC reads its parameters from ``params.yaml`` only, so a setting kept in another file (the paper's,
``configs/paper.yaml``) runs as a DVC experiment with one ``-S key=value`` per leaf that differs::

    dvc exp run -n paper $(python -m pipeline.dvc_flags configs/paper.yaml)

Values are written as compact JSON, which DVC parses as YAML; both files are validated first.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pipeline.config import ConfigError, as_dict, load_params


def leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"section.key": value}`` for every leaf of a nested mapping (lists are leaves)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def set_flags(target: Path, base: Path = Path("params.yaml")) -> list[str]:
    """``-S key=value`` for every leaf where ``target`` differs from ``base``, in file order."""
    want = leaves(as_dict(load_params(target)))
    have = leaves(as_dict(load_params(base)))
    flags = []
    for key, value in want.items():
        if have[key] == value:
            continue
        text = json.dumps(value, separators=(",", ":"))
        if any(c.isspace() for c in text):  # the flags are meant for shell word splitting
            raise ConfigError(f"{target}: {key}: a value with white space cannot be a -S flag")
        flags += ["-S", f"{key}={text}"]
    return flags


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", type=Path, help="the params file to run, e.g. configs/paper.yaml")
    parser.add_argument("--base", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    try:
        print(" ".join(set_flags(args.target, args.base)))
    except ConfigError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
