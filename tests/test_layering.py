"""Imports point one way: indexes <- retrieval <- rerank <- benchmarks."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAYERS = ["indexes", "retrieval", "rerank", "benchmarks"]
# `python -m indexes.build` keeps the name the issue gives it; it delegates to retrieval when run.
ALLOWED = {("indexes/build.py", "retrieval")}


def _imported_packages(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_layer_imports_a_higher_one():
    problems = []
    for level, package in enumerate(LAYERS):
        higher = set(LAYERS[level + 1 :])
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            for name in _imported_packages(path) & higher:
                if (rel, name) not in ALLOWED:
                    problems.append(f"{rel} imports {name}")
    assert not problems, problems


def test_indexes_layer_has_no_torch():
    for path in (REPO / "indexes").rglob("*.py"):
        assert "torch" not in _imported_packages(path), path
