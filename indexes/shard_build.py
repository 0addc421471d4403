"""Write a sharded index: plan a generation, train one shared quantizer, build shards, commit.

The steps are separate functions so that shards can be built anywhere (in this process, or as Ray
tasks on other machines writing to a shared filesystem), each from its own slice of the corpus:

    plan = plan_build(path, shards=4, dim=384, factory="IVF4096,PQ64", metric="cosine")
    plan = train_shared(plan, sample_vectors)              # once, on a sample; no-op for Flat/HNSW
    entries = [build_shard(plan, i, docs_i, vectors_i) for i in range(4)]   # in parallel anywhere
    commit_build(plan, entries)                            # shards.json names them: now loadable

Every build writes a new generation (`g0002-shard-00000/`, ...) beside the current one, and the
commit (an atomic rename of `shards.json`) is the moment readers switch to it; a crash before it
leaves the previous index loadable. Older generations are deleted after the commit.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from indexes.docstore import DocStore
from indexes.documents import validate_documents
from indexes.index import Index
from indexes.manifest import Manifest, library_versions
from indexes.shard_manifest import (
    GENERATION_NAME,
    SHARDS_FILE,
    ShardEntry,
    ShardsManifest,
    file_listing,
    verify_listing,
)
from indexes.sharded import ShardError
from indexes.vectors import VectorIndex

__all__ = ["BuildPlan", "build_shard", "commit_build", "plan_build", "shard_bounds", "train_shared", "write_sharded"]

TRAIN_SAMPLE = 100_000


def shard_bounds(n_rows: int, n_shards: int) -> list[tuple[int, int]]:
    """Contiguous, balanced [start, stop) row ranges, one per shard.

    Example:
        >>> shard_bounds(10, 4)
        [(0, 3), (3, 6), (6, 8), (8, 10)]
    """
    if n_shards <= 0:
        raise ValueError(f"shards must be positive, got {n_shards}")
    base, extra = divmod(n_rows, n_shards)
    edges = [i * base + min(i, extra) for i in range(n_shards + 1)]
    return list(zip(edges[:-1], edges[1:]))


@dataclass(frozen=True)
class BuildPlan:
    """One build of a sharded directory: where, which generation, and the settings all shards share."""

    path: str
    generation: int
    shards: int
    dim: int
    factory: str
    metric: str
    normalize: bool
    encoder: dict[str, Any] = field(default_factory=dict)
    trained: dict[str, Any] | None = None

    def shard_name(self, i: int) -> str:
        return f"g{self.generation:04d}-shard-{i:05d}"

    def empty_index(self) -> Index:
        """An empty shard: a copy of the shared trained index when there is one."""
        if self.trained is None:
            return Index.create(self.dim, self.factory, self.metric, self.normalize, self.encoder, use_gpu=False)
        file = Path(self.path) / self.trained["file"]
        verify_listing(file, {"": self.trained})
        vectors = VectorIndex.read(file, self.factory, self.metric, use_gpu=False)
        manifest = Manifest(self.dim, self.metric, self.normalize, self.factory, 0, 0, encoder=dict(self.encoder))
        return Index(vectors, DocStore(), manifest)


def _generations(path: Path) -> set[int]:
    return {int(m.group(1)) for m in map(GENERATION_NAME.match, os.listdir(path)) if m}


def plan_build(
    path: str | Path,
    shards: int,
    dim: int,
    factory: str = "Flat",
    metric: str = "cosine",
    normalize: bool | None = None,
    encoder: dict[str, Any] | None = None,
) -> BuildPlan:
    """Reserve the next generation of a sharded directory (created if missing)."""
    if shards <= 0:
        raise ValueError(f"shards must be positive, got {shards}")
    path = Path(path).absolute()
    if path.exists() and not path.is_dir():
        raise ShardError(f"{path} is a file; a sharded index is a directory")
    path.mkdir(parents=True, exist_ok=True)
    if any(path.iterdir()) and not (path / SHARDS_FILE).exists() and not _generations(path):
        raise ShardError(f"{path} holds other files; give an empty or new directory, or a sharded index to replace")
    current = ShardsManifest.read(path).generation if (path / SHARDS_FILE).exists() else 0
    generation = max(_generations(path) | {current}) + 1
    normalize = (metric == "cosine") if normalize is None else normalize
    return BuildPlan(str(path), generation, shards, dim, factory, metric, normalize, dict(encoder or {}))


def train_shared(plan: BuildPlan, sample: np.ndarray, seed: int = 0) -> BuildPlan:
    """Train the factory's quantizer (IVF, PQ) once on `sample` and save it for every shard to copy.

    Returns the plan unchanged for types that need no training (Flat, HNSW).
    """
    template = Index.create(plan.dim, plan.factory, plan.metric, plan.normalize, use_gpu=False)
    if template.vectors.is_trained:
        return plan
    template.vectors.train(template.prepare_vectors(sample))
    file = Path(plan.path) / f"g{plan.generation:04d}-trained.faiss"
    template.vectors.write(file)
    with open(file, "rb") as handle:
        os.fsync(handle.fileno())
    listing = file_listing(file)[""]
    return replace(plan, trained={"file": file.name, "train_size": len(sample), "seed": seed, **listing})


def build_shard(plan: BuildPlan, i: int, documents: Sequence[Any], vectors: np.ndarray) -> ShardEntry:
    """Build shard `i` from its documents and vectors and save it (atomically, by `Index.save`)."""
    index = plan.empty_index()
    index.add(documents, vectors)
    target = Path(plan.path) / plan.shard_name(i)
    index.save(target)
    return ShardEntry(target.name, len(index), file_listing(target))


def commit_build(plan: BuildPlan, entries: Sequence[ShardEntry]) -> ShardsManifest:
    """Make the planned generation the index: write ``shards.json`` atomically, then delete older ones."""
    path = Path(plan.path)
    entries = sorted(entries, key=lambda e: e.name)
    expected = [plan.shard_name(i) for i in range(plan.shards)]
    if [e.name for e in entries] != expected:
        raise ShardError(f"commit needs shards {expected}, got {[e.name for e in entries]}")
    for entry in entries:
        verify_listing(path / entry.name, entry.files, checksums=False)
    if (path / SHARDS_FILE).exists() and ShardsManifest.read(path).generation >= plan.generation:
        raise ShardError(f"{path}: a build of generation >= {plan.generation} was committed meanwhile")
    layout = ShardsManifest(
        plan.dim, plan.metric, plan.normalize, plan.factory, sum(e.doc_count for e in entries), plan.generation,
        tuple(entries), encoder=dict(plan.encoder), trained=plan.trained, libraries=library_versions(),
    )
    layout.commit(path)
    for name in os.listdir(path):
        match = GENERATION_NAME.match(name)
        if match and int(match.group(1)) < plan.generation:
            target = path / name
            shutil.rmtree(target) if target.is_dir() else target.unlink()
    return layout


def write_sharded(
    path: str | Path,
    documents: Sequence[Any],
    vectors: np.ndarray,
    shards: int,
    factory: str = "Flat",
    metric: str = "cosine",
    normalize: bool | None = None,
    encoder: dict[str, Any] | None = None,
    train_size: int = TRAIN_SAMPLE,
    seed: int = 0,
) -> ShardsManifest:
    """Write documents and their vectors as a sharded index, in this process.

    Shard i holds the i-th contiguous slice of the documents. Types that need training are trained
    once on a random sample of `train_size` vectors, and every shard shares that quantizer.

    Example:
        >>> write_sharded("idx4", docs, vectors, shards=4, factory="IVF64,Flat")  # doctest: +SKIP
    """
    docs = validate_documents(documents)
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(docs):
        raise ValueError(f"{len(docs)} documents but vectors of shape {vectors.shape}")
    plan = plan_build(path, shards, vectors.shape[1], factory, metric, normalize, encoder)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(len(vectors), size=min(train_size, len(vectors)), replace=False))
    plan = train_shared(plan, vectors[sample], seed)
    bounds = shard_bounds(len(docs), shards)
    entries = [build_shard(plan, i, docs[a:b], vectors[a:b]) for i, (a, b) in enumerate(bounds)]
    return commit_build(plan, entries)
