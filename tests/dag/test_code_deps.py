"""Every stage lists the pipeline code it runs, in dvc.yaml and in its Snakemake rule.

Neither tool sees Python imports: a stage reruns when a file of its dvc.yaml ``deps`` (or of its
rule's ``code=code(...)`` input) changes, and only then. A module the stage imports but does not
list can change without the stage rerunning, and its outputs silently stop matching the code.
These tests follow each stage's imports through pipeline/ (statically, with ast: ``import
pipeline.a.b``, ``from pipeline.a import b``, relative imports, also those inside functions, and
the packages' ``__init__.py`` files that importing a module runs) and fail naming the stage, the
unlisted file and the chain of imports that pulls it in. A file with no code (empty, or a
docstring alone) runs nothing and need not be listed.
"""

from __future__ import annotations

import ast
import copy
import functools
import re
from collections import deque
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
MODULE = re.compile(r"python -m (pipeline(?:\.\w+)+)")
RULE = re.compile(r"^(?:local)?rule (\w+):\n(.*?)(?=^\S|\Z)", re.M | re.S)
CODE_INPUT = re.compile(r"\bcode=code\((.*?)\)", re.S)


def module_file(name: str) -> Path | None:
    """The file of module ``name`` (a.b: a/b.py or the package a/b/__init__.py), or None."""
    path = REPO.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def parse(file: Path) -> ast.Module:
    return ast.parse(file.read_text())


@functools.cache
def import_nodes(file: Path) -> list[ast.Import | ast.ImportFrom]:
    return [n for n in ast.walk(parse(file)) if isinstance(n, (ast.Import, ast.ImportFrom))]


def imported_names(name: str) -> set[str]:
    """Every module name that module ``name``'s import statements name (anywhere in the file,
    relative imports resolved); ``from a import b`` gives ``a`` and ``a.b``, b perhaps a module."""
    file = module_file(name)
    if file is None:
        return set()
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in import_nodes(file):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from ..a import b
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # a submodule, if one
    return found


def imports(name: str) -> set[str]:
    """The pipeline modules that running module ``name`` runs directly: the ones it imports and,
    for each of them and for ``name`` itself, the packages above it (their ``__init__.py``)."""
    if module_file(name) is None:
        return set()
    found = imported_names(name) | {name}
    with_packages = {".".join(m.split(".")[:i]) for m in found for i in range(1, m.count(".") + 2)}
    return {m for m in with_packages if m.startswith("pipeline") and module_file(m)} - {name}


def import_chains(module: str) -> dict[str, list[str]]:
    """Every pipeline module that ``python -m module`` runs, with a shortest import chain to it."""
    chains = {module: [module]}
    todo = deque([module])
    while todo:
        current = todo.popleft()
        for name in sorted(imports(current)):
            if name not in chains:
                chains[name] = chains[current] + [name]
                todo.append(name)
    return chains


def runs_code(file: Path) -> bool:
    """False for a file with no statement but, at most, a docstring."""
    body = parse(file).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return bool(body)


def missing_code_deps(stages: dict[str, dict]) -> list[str]:
    """One message per stage and pipeline file its module runs that none of its deps covers.

    ``stages`` maps a stage name to ``{"cmd": ..., "deps": [...]}`` (dvc.yaml's stage, or its
    ``do:`` for a foreach stage); a dep covers a file when it is that file or a folder above it.
    """
    messages = []
    for stage, spec in stages.items():
        spec = spec.get("do", spec)
        match = MODULE.search(spec["cmd"])
        if not match:
            continue
        deps = [d.rstrip("/") for d in spec.get("deps", [])]
        for name, chain in import_chains(match.group(1)).items():
            file = module_file(name)
            if file is None:
                messages.append(f"{stage}: module {name} has no file")
                continue
            path = file.relative_to(REPO).as_posix()
            if runs_code(file) and not any(path == d or path.startswith(d + "/") for d in deps):
                messages.append(f"{stage}: {path} is not listed (imports: {' -> '.join(chain)})")
    return messages


def write_tree(root: Path, files: dict[str, str]) -> None:
    """A synthetic source tree under ``root``: each relative path with its text."""
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def dvc_stages() -> dict[str, dict]:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def snakemake_rules() -> dict[str, dict]:
    """Each rule of workflow/rules/*.smk as ``{"cmd": its text, "deps": its code=code(...)
    input}``: code()'s parts are paths under pipeline/, a module file or a package folder
    (workflow/rules/common.smk)."""
    rules = {}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for name, body in RULE.findall(smk.read_text()):
            code = CODE_INPUT.search(body)
            parts = ast.literal_eval(f"[{code.group(1)}]") if code else []
            rules[name] = {"cmd": body, "deps": [f"pipeline/{part}" for part in parts]}
    return rules


def test_every_stage_runs_a_pipeline_module_in_both_tools():
    """The two tests below check something: each stage's module is found, and its Snakemake
    rule (same name) runs the same module."""
    rules = snakemake_rules()
    for stage, spec in dvc_stages().items():
        module = MODULE.search(spec.get("do", spec)["cmd"])
        assert module, f"{stage}: no `python -m pipeline...` in its cmd"
        assert stage in rules, f"{stage}: no Snakemake rule of that name"
        assert MODULE.findall(rules[stage]["cmd"]) == [module.group(1)], stage
        assert rules[stage]["deps"], f"rule {stage}: no code=code(...) input"


def test_dvc_deps_cover_the_code_each_stage_runs():
    missing = missing_code_deps(dvc_stages())
    assert not missing, "dvc.yaml deps miss code the stage runs:\n" + "\n".join(missing)


def test_snakemake_inputs_cover_the_code_each_rule_runs():
    missing = missing_code_deps(snakemake_rules())
    assert not missing, "Snakemake code inputs miss code the rule runs:\n" + "\n".join(missing)


def test_a_removed_dependency_is_reported():
    stages = copy.deepcopy(dvc_stages())
    stages["pretrain"]["do"]["deps"].remove("pipeline/io.py")
    new = set(missing_code_deps(stages)) - set(missing_code_deps(dvc_stages()))
    assert new == {
        "pretrain: pipeline/io.py is not listed"
        " (imports: pipeline.stages.pretrain -> pipeline.cli -> pipeline.io)"
    }


def test_imports_are_followed_through_every_import_form(tmp_path, monkeypatch):
    files = {
        "pipeline/__init__.py": "",
        "pipeline/stages/__init__.py": '"""A docstring alone."""\n',
        "pipeline/stages/run.py": "from pipeline.a import b\nimport pipeline.util\n",
        "pipeline/a/__init__.py": "X = 1\n",
        "pipeline/a/b.py": "from . import c\nfrom .c import f\n",
        "pipeline/a/c.py": "def f():\n    from ..sub.d import g\n",
        "pipeline/sub/__init__.py": "",
        "pipeline/sub/d.py": "g = 1\n",
        "pipeline/util.py": "import numpy\n",
        "pipeline/unused.py": "",
    }
    write_tree(tmp_path, files)
    monkeypatch.setattr(f"{__name__}.REPO", tmp_path)
    chains = import_chains("pipeline.stages.run")
    assert set(chains) == {
        "pipeline",
        "pipeline.stages",
        "pipeline.stages.run",
        "pipeline.a",
        "pipeline.a.b",
        "pipeline.a.c",
        "pipeline.sub",
        "pipeline.sub.d",
        "pipeline.util",
    }
    assert chains["pipeline.sub.d"] == [
        "pipeline.stages.run",
        "pipeline.a.b",
        "pipeline.a.c",
        "pipeline.sub.d",
    ]
    stage = {
        "cmd": "python -m pipeline.stages.run",
        "deps": ["pipeline/stages/run.py", "pipeline/a"],
    }
    # the empty __init__.py files and the docstring-only one need no listing
    assert sorted(missing_code_deps({"run": stage})) == [
        "run: pipeline/sub/d.py is not listed (imports: pipeline.stages.run -> pipeline.a.b"
        " -> pipeline.a.c -> pipeline.sub.d)",
        "run: pipeline/util.py is not listed (imports: pipeline.stages.run -> pipeline.util)",
    ]
