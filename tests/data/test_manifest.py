"""Manifest paths: which relative paths a stage accepts (as PurePosixPath would decide) and which
links it follows."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from pipeline.data.manifest import OutsideRootError, relative_path_problem, source_path

TRICKY = [
    "A/B/C/TRABC/0123.npz",
    "a//b.npz",
    "./a.npz",
    "a/./b.npz",
    "..a/b.npz",
    "a../b.npz",
    "a/b..npz",
    "...",
    "..",
    "a/..",
    "a/../b.npz",
    "a/b/../../../c.npz",
    "/etc/passwd",
    "//server/share",
    "\\windows\\path",
    "C:song.mid",
    "a\0b.npz",
]


@pytest.mark.parametrize("rel", TRICKY)
def test_a_path_is_refused_exactly_when_pathlib_says_it_leaves_the_root(rel):
    """The string tests give PurePosixPath's verdict (absolute, or a ".." component), plus
    the Windows forms and NUL bytes that a POSIX path would let through."""
    posix = PurePosixPath(rel)
    leaves = posix.is_absolute() or ".." in posix.parts
    windows_or_nul = rel.startswith("\\") or rel[1:2] == ":" or "\0" in rel
    problem = relative_path_problem(rel)
    assert (problem is not None) == (leaves or windows_or_nul), (rel, problem)
    if leaves:
        assert "absolute" in problem or "outside" in problem


def test_source_path_refuses_exactly_the_links_that_leave_the_root(tmp_path):
    """Plain files, links that stay inside, a linked root, missing files: accepted; a file or a
    folder linked outside, at any depth: refused (the plain-path shortcut and realpath agree)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "song.npz").write_bytes(b"x")
    root = tmp_path / "root"
    (root / "A" / "B").mkdir(parents=True)
    (root / "A" / "B" / "song.npz").write_bytes(b"x")
    (root / "A" / "inside.npz").symlink_to(root / "A" / "B" / "song.npz")
    (root / "A" / "C").symlink_to(root / "A" / "B")  # a folder link that stays inside
    (root / "A" / "out.npz").symlink_to(outside / "song.npz")
    (root / "A" / "D").symlink_to(outside)  # a folder link that leaves
    linked_root = tmp_path / "linked_root"
    linked_root.symlink_to(root)
    for base in (root, linked_root):
        for rel in ["A/B/song.npz", "A/./B/song.npz", "A/inside.npz", "A/C/song.npz", "A/gone"]:
            assert source_path(base, rel) == base / rel
        for rel in ["A/out.npz", "A/D/song.npz", "A/D"]:
            with pytest.raises(OutsideRootError, match="link that leads outside"):
                source_path(base, rel)
