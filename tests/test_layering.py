"""Imports point one way: indexes <- retrieval <- rerank <- retrieval.train, rerank.train <- benchmarks.

Serving (`retrieval`, `rerank`, each without its `train` subpackage) never imports training;
`rerank.train` may import `retrieval.train`, not the other way round. Every import counts, the
ones inside functions too. Importing the serving packages loads no training module, no torch, and
registers nothing with transformers.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("indexes", "retrieval", "rerank", "benchmarks")
# Lower number, lower layer: a module may import its own layer and the ones below.
LAYERS = {"indexes": 0, "retrieval": 1, "rerank": 2, "retrieval.train": 3, "rerank.train": 4, "benchmarks": 5}
# `python -m indexes.build` keeps the name the issue gives it; it delegates to retrieval when run.
ALLOWED = {("indexes/build.py", "retrieval")}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in sorted((REPO / package).rglob("*.py"))}


def _layer(module: str) -> str:
    """The layer of a module: its package, or that package's `train` subpackage."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[1:2] == ["train"] else parts[0]


def _imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The repository modules `path` imports, inside functions too (`from a import b` is module `a.b`
    when there is one, else `a`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return {name for name in found if name.split(".")[0] in PACKAGES}


def test_no_layer_imports_a_higher_one():
    known = _modules()
    problems = []
    for module, path in known.items():
        rel = path.relative_to(REPO).as_posix()
        mine = LAYERS[_layer(module)]
        for name in sorted(_imports(path, known)):
            if LAYERS[_layer(name)] > mine and (rel, name.split(".")[0]) not in ALLOWED:
                problems.append(f"{rel} ({_layer(module)}) imports {name} ({_layer(name)})")
    assert not problems, problems


def test_no_import_cycles_in_the_stage_packages():
    """No two modules of retrieval or rerank (training included) import each other, however indirectly;
    a package's `__init__` counts as a module (so a module importing its own package makes a cycle)."""
    known = _modules()
    graph = {m: {n for n in _imports(p, known) if n in known and n != m} for m, p in known.items()}
    cycles = []
    for start in (m for m in graph if m.split(".")[0] in ("retrieval", "rerank")):
        stack, seen = [(start, [start])], set()
        while stack:
            node, trail = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    cycles.append(" -> ".join(trail + [start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, trail + [nxt]))
    assert not cycles, sorted(set(cycles))


def test_no_private_name_is_imported_from_another_module():
    known = _modules()
    problems = []
    for module, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                if private:
                    problems.append(f"{path.relative_to(REPO).as_posix()} imports {private} from {node.module}")
    assert not problems, problems


def test_indexes_layer_has_no_torch():
    known = _modules()
    for module, path in known.items():
        if module.startswith("indexes"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
            names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
            assert not any(name.split(".")[0] == "torch" for name in names), path


def test_importing_the_serving_packages_loads_no_training_and_registers_nothing():
    """In a fresh interpreter: no `train` module, no torch or transformers, no K-NRM registration."""
    script = (
        "import json, sys\n"
        "import retrieval, rerank\n"
        "loaded = sorted(sys.modules)\n"
        "from transformers import AutoConfig\n"
        "from transformers.models.auto.configuration_auto import CONFIG_MAPPING\n"
        "print(json.dumps({'loaded': loaded, 'registered': 'kernel_match' in CONFIG_MAPPING}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    loaded = report["loaded"]
    training = [m for m in loaded if m.startswith(("retrieval.train", "rerank.train"))]
    assert not training, training
    heavy = [m for m in loaded if m.split(".")[0] in ("torch", "transformers", "sentence_transformers", "datasets")]
    assert not heavy, heavy[:10]
    assert "rerank.kernel_model" not in loaded and not report["registered"]


def test_kernel_registration_is_explicit_and_idempotent():
    script = (
        "from transformers.models.auto.configuration_auto import CONFIG_MAPPING\n"
        "import rerank.kernel_model as km\n"
        "before = 'kernel_match' in CONFIG_MAPPING\n"
        "km.register(); km.register()\n"
        "print(before, 'kernel_match' in CONFIG_MAPPING)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]
