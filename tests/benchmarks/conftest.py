"""Run commands as on a lent GPU machine: without the modules it lacks (docs/gpu.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# What a lent GPU machine lacks (its own Python and torch; nothing can be installed there).
MISSING = ("hdf5plugin", "soundfile", "symusic", "dvc", "snakemake", "selenium")

SITECUSTOMIZE = """
import os, sys
for _name in os.environ.get("BLOCKED_MODULES", "").split(","):
    if _name:
        sys.modules[_name] = None  # "import name" now raises ImportError
"""


@pytest.fixture(scope="session")
def blocked_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a ``sitecustomize.py`` that makes ``BLOCKED_MODULES`` unimportable."""
    site = tmp_path_factory.mktemp("blocked_site")
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return site


def run_blocked(
    site: Path, args: list[str], blocked=MISSING, timeout: float = 600, **env: str
) -> subprocess.CompletedProcess:
    """``python args`` in the repository with ``blocked`` unimportable (children too)."""
    full_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
        "BLOCKED_MODULES": ",".join(blocked),
        **env,
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
