"""The layout the imports must keep: stages are leaves, and nothing imports itself round a loop.

- ``pipeline/stages/`` holds exactly the modules that dvc.yaml's stages and the Snakemake rules
  run (one module may serve two stages with a flag: ``pretrain --conditional``).
- No stage imports another stage, and nothing else in ``pipeline/`` imports a stage: what two
  stages share lives beside them (``pipeline/cli.py``, ``pipeline/sampling.py``, ...). The
  benchmarks may drive a stage's ``run`` (they time the stage itself).
- No import cycle among the modules of ``pipeline/`` and ``benchmarks/``, counting every import
  statement, also those inside functions (a cycle hidden in a function is still one).

The imports are read statically (``test_code_deps.imported_names``), so nothing is run.
"""

from __future__ import annotations

from tests.dag import test_code_deps as deps

ROOTS = ("pipeline", "benchmarks")


def modules() -> list[str]:
    """Every module of the ROOTS, by dotted name."""
    names = []
    for root in ROOTS:
        for file in sorted((deps.REPO / root).rglob("*.py")):
            parts = file.relative_to(deps.REPO).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def edges(name: str) -> set[str]:
    """The modules of the ROOTS that module ``name`` imports by name."""
    return {
        m
        for m in deps.imported_names(name)
        if m.split(".")[0] in ROOTS and deps.module_file(m) is not None and m != name
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def stage_modules() -> set[str]:
    return {m for m in modules() if m.startswith("pipeline.stages.")}


def test_no_import_cycle_in_pipeline_or_benchmarks():
    graph = {name: edges(name) for name in modules()}
    assert sum(len(e) for e in graph.values()) > 100  # the graph was read
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_stage_modules_are_the_stages_both_tools_run():
    run_by_dvc = {
        deps.MODULE.search(spec.get("do", spec)["cmd"]).group(1)
        for spec in deps.dvc_stages().values()
    }
    run_by_snakemake = {
        m for rule in deps.snakemake_rules().values() for m in deps.MODULE.findall(rule["cmd"])
    }
    assert stage_modules() == run_by_dvc == run_by_snakemake


def test_stages_are_imported_by_no_stage_and_no_library_module():
    stages = stage_modules()
    wrong = [
        f"{name} imports {target}"
        for name in modules()
        if name.startswith("pipeline.")
        for target in sorted(edges(name) & stages)
    ]
    assert not wrong, "\n".join(wrong)


def test_a_cycle_and_a_stage_import_are_found(tmp_path, monkeypatch):
    """The checks above find what they look for: a loop through a function-level import, and a
    library module importing a stage."""
    files = {
        "pipeline/__init__.py": "",
        "pipeline/a.py": "from pipeline import b\n",
        "pipeline/b.py": "def f():\n    from . import a\n",
        "pipeline/c.py": "import pipeline.stages.s\n",
        "pipeline/stages/__init__.py": "",
        "pipeline/stages/s.py": "from pipeline.a import x\n",
    }
    deps.write_tree(tmp_path, files)
    monkeypatch.setattr(deps, "REPO", tmp_path)
    graph = {name: edges(name) for name in modules()}
    assert cycles(graph) == [["pipeline.a", "pipeline.b"]]
    assert edges("pipeline.c") & stage_modules() == {"pipeline.stages.s"}
