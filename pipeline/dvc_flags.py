"""Print the ``dvc exp run -S`` flags that apply an overlay (e.g. ``configs/paper.yaml``) to
``params.yaml``.

DVC reads its parameters from ``params.yaml`` only, so a setting kept as an overlay, a file with
only the keys it changes, runs as a DVC experiment with one ``-S key=value`` per leaf of the
overlay::

    dvc exp run -n paper $(python -m pipeline.dvc_flags configs/paper.yaml)

Only the overlay's own keys get a flag, so every other key of ``params.yaml`` (your ``paths``
above all) stays as it is. The overlay is first merged into the base file exactly as Snakemake's
``--configfile`` merges it (``pipeline.config.merge_overlay``) and the result validated, so a bad
overlay fails here with one line naming the file and the key (exit status 2), not in DVC.
Values are written as compact JSON, which DVC parses as YAML.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pipeline.config import load_params, read_yaml
from pipeline.errors import ConfigError


def leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"section.key": value}`` for every leaf of a nested mapping (lists are leaves)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def set_flags(overlay: Path, base: Path = Path("params.yaml")) -> list[str]:
    """``-S key=value`` for every leaf of ``overlay``, in file order, after checking that the
    overlay applies to ``base`` (a ConfigError names the file and the key)."""
    load_params(base, [overlay])
    flags = []
    for key, value in leaves(read_yaml(overlay)).items():
        text = json.dumps(value, separators=(",", ":"))
        if any(c.isspace() for c in text):  # the flags are meant for shell word splitting
            raise ConfigError(f"{overlay}: {key}: a value with white space cannot be a -S flag")
        flags += ["-S", f"{key}={text}"]
    return flags


def main(argv: list[str] | None = None) -> None:
    """Print the flags on one line; a bad file ends with one line on stderr and exit status 2."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.dvc_flags",
        description="Print the `dvc exp run -S` flags that apply an overlay (a YAML file of only\n"
        "the keys it changes) to params.yaml: one flag per key of the overlay, none for any\n"
        "other key, so your paths stay as they are. The merged setting is validated first.",
        epilog="example:\n"
        "  dvc exp run -n paper $(python -m pipeline.dvc_flags configs/paper.yaml)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "overlay", type=Path, help="the overlay to apply: a YAML file of the keys it changes"
    )
    parser.add_argument(
        "--base",
        type=Path,
        default=Path("params.yaml"),
        help="the params file the overlay applies to, checked with it (default: params.yaml)",
    )
    args = parser.parse_args(argv)
    try:
        print(" ".join(set_flags(args.overlay, args.base)))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
