"""Seeded mutations of ``params.yaml``: wrong types, out-of-range values, unknown and missing keys,
empty and non-mapping files, YAML syntax errors.

Each mutation is the text of a params file plus what it did (``kind``), the dotted key it touched
(``key``, None for whole-file mutations), and whether every correct validator must refuse it
(``must_fail``: an unknown or missing key, a container where a scalar belongs, a file that is not a
mapping or not YAML). Scalar swaps and range changes may be valid (an int where a float belongs,
a larger batch), so for them only the outcome's form is checked.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SCALARS: list[Any] = ["x", "", 7, -3, 0, 1.5, -0.25, True, False, None, 10**30, float("nan")]
CONTAINERS: list[Any] = [[1, 2], [], {"a": 1}, {}]
RANGE_VALUES: list[Any] = [0, -1, -(10**9), 10**12, 2**63, 0.0, -1e-9, 1e308, float("inf")]
NON_MAPPINGS = ["", "# only a comment\n", "42\n", "[1, 2, 3]\n", "text\n", "~\n", "- a\n- b\n"]
# Fragments that make (or may make) YAML unparsable when spliced into the text.
BROKEN = ["[", "{", '"', "'", ": :", "\t", "- ", "&a *b", "!!python/object:os.system", "%", "@"]


@dataclass(frozen=True)
class Mutation:
    kind: str
    key: str | None
    text: str
    must_fail: bool


def leaves(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Dotted paths (as tuples) of every value under a mapping, lists counted as one value."""
    if isinstance(data, dict):
        out = []
        for k, v in data.items():
            out += leaves(v, (*prefix, k)) if isinstance(v, dict) else [(*prefix, k)]
        return out
    return [prefix]


def _get_parent(data: dict, path: tuple) -> dict:
    for part in path[:-1]:
        data = data[part]
    return data


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False)


def _set(base: dict, path: tuple, value: Any, kind: str, must_fail: bool) -> Mutation:
    data = copy.deepcopy(base)
    _get_parent(data, path)[path[-1]] = value
    return Mutation(kind, ".".join(map(str, path)), _dump(data), must_fail)


def wrong_type(base: dict, rng: random.Random) -> Mutation:
    path = rng.choice(leaves(base))
    old = _get_parent(base, path)[path[-1]]
    if rng.random() < 0.3:
        new = copy.deepcopy(rng.choice(CONTAINERS))
        scalar_to_container = not isinstance(old, list) or isinstance(new, dict)
        return _set(base, path, new, "wrong type", scalar_to_container)
    return _set(base, path, rng.choice(SCALARS), "wrong type", False)


def out_of_range(base: dict, rng: random.Random) -> Mutation:
    numeric = [p for p in leaves(base) if type(_get_parent(base, p)[p[-1]]) in (int, float)]
    path = rng.choice(numeric)
    return _set(base, path, rng.choice(RANGE_VALUES), "out of range", False)


def list_item(base: dict, rng: random.Random) -> Mutation:
    lists = [p for p in leaves(base) if isinstance(_get_parent(base, p)[p[-1]], list)]
    path = rng.choice(lists)
    data = copy.deepcopy(base)
    items = _get_parent(data, path)[path[-1]]
    if items and rng.random() < 0.6:
        items[rng.randrange(len(items))] = rng.choice(SCALARS + CONTAINERS)
    elif items and rng.random() < 0.5:
        items.pop()
    else:
        items.append(rng.choice(SCALARS))
    return Mutation("list item", ".".join(map(str, path)), _dump(data), False)


def unknown_key(base: dict, rng: random.Random) -> Mutation:
    data = copy.deepcopy(base)
    sections = [()] + [(k,) for k, v in base.items() if isinstance(v, dict)]
    where = rng.choice(sections)
    target = _get_parent(data, (*where, None))
    name = rng.choice(["typo", "n_iteration", "lr_decay", "Seed", 1, "extra_key"])
    target[name] = rng.choice(SCALARS)
    return Mutation("unknown key", ".".join(map(str, (*where, name))), _dump(data), True)


def missing_key(base: dict, rng: random.Random) -> Mutation:
    data = copy.deepcopy(base)
    if rng.random() < 0.2:
        path = (rng.choice(list(base)),)
    else:
        path = rng.choice(leaves(base))
    del _get_parent(data, path)[path[-1]]
    return Mutation("missing key", ".".join(map(str, path)), _dump(data), True)


def non_mapping(base: dict, rng: random.Random) -> Mutation:
    if rng.random() < 0.3:  # a section that is not a mapping
        section = rng.choice(list(base))
        return _set(base, (section,), rng.choice(["x", 3, [1], None]), "non-mapping", True)
    if rng.random() < 0.15:  # binary garbage, kept as text through surrogateescape
        noise = bytes(rng.randrange(256) for _ in range(300))
        return Mutation("binary file", None, noise.decode("utf-8", "surrogateescape"), True)
    if rng.random() < 0.1:
        return Mutation("deep nesting", None, "[" * 5000 + "]" * 5000, True)
    return Mutation("non-mapping file", None, rng.choice(NON_MAPPINGS), True)


def write(path: Path, mutation: Mutation) -> Path:
    """The mutation's file (bytes that are not UTF-8 written as they are)."""
    path.write_bytes(mutation.text.encode("utf-8", "surrogateescape"))
    return path


def syntax_error(text: str, rng: random.Random) -> Mutation:
    """Splice a broken fragment into the text; ``must_fail`` iff YAML itself cannot parse it."""
    lines = text.splitlines(keepends=True)
    i = rng.randrange(len(lines))
    line = lines[i]
    cut = rng.randrange(len(line) + 1)
    lines[i] = line[:cut] + rng.choice(BROKEN) + line[cut:]
    broken = "".join(lines)
    try:
        yaml.safe_load(broken)
        parses = True
    except yaml.YAMLError:
        parses = False
    return Mutation("yaml syntax" if not parses else "yaml splice", None, broken, not parses)


def mutations(params_path: Path, n: int, seed: int) -> list[Mutation]:
    """``n`` seeded mutations of the params file at ``params_path``."""
    text = params_path.read_text()
    base = yaml.safe_load(text)
    rng = random.Random(seed)
    makers = [wrong_type, out_of_range, list_item, unknown_key, missing_key, non_mapping]
    out = []
    for i in range(n):
        if i % 7 == 6:
            out.append(syntax_error(text, rng))
        else:
            out.append(makers[i % 7](base, rng))
    return out
