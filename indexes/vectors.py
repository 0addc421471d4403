"""FAISS vectors behind one small interface: build by factory string, add, remove, search, save.

The CPU index is the source of truth (it is what gets written); when FAISS sees a GPU, a GPU copy
serves searches. k above the GPU limit (2048) is answered from the CPU copy.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np

from indexes.errors import FactoryError

__all__ = ["GPU_MAX_K", "METRICS", "VectorIndex", "gpu_count"]

GPU_MAX_K = 2048
# Up to this many queries, a CPU search runs on one OpenMP thread: for a single query FAISS's
# thread start-up costs more than it saves (benchmarks/perf_stage1.py measured a 1M-vector flat
# search at 60 ms p50 on one thread against 304 ms with the default threads on a busy 2-core machine).
SMALL_SEARCH = 4
METRICS = {"ip": faiss.METRIC_INNER_PRODUCT, "cosine": faiss.METRIC_INNER_PRODUCT, "l2": faiss.METRIC_L2}


def gpu_count() -> int:
    """GPUs FAISS can use (0 with faiss-cpu)."""
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get is not None else 0


@contextmanager
def _one_omp_thread() -> Iterator[None]:
    """One OpenMP thread for the calling thread only (OpenMP's thread count is a per-thread setting)."""
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


_TOO_FEW = re.compile(
    r"Number of training points \((\d+)\) should be at least as large as number of clusters \((\d+)\)"
)


def _as_matrix(vectors: np.ndarray, dim: int) -> np.ndarray:
    array = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if array.ndim != 2 or array.shape[1] != dim:
        raise ValueError(f"expected vectors of shape (n, {dim}), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("vectors contain NaN or infinity; check the encoder output")
    return array


class VectorIndex:
    """A FAISS index with int64 ids, chosen by factory string.

    Args:
        dim: vector dimension.
        factory: FAISS factory string (``"Flat"``, ``"HNSW32"``, ``"IVF256,PQ32"``, ...).
        metric: ``"ip"``, ``"cosine"`` (inner product over normalised vectors) or ``"l2"``.
        use_gpu: ``None`` uses a GPU when FAISS sees one; ``False`` never does.

    Example:
        >>> index = VectorIndex(2, "Flat", "ip")
        >>> index.add(np.eye(2, dtype="float32"), np.array([10, 11]))
        >>> index.search(np.array([[0.0, 1.0]], dtype="float32"), 1)[1].tolist()
        [[11]]
    """

    def __init__(self, dim: int, factory: str = "Flat", metric: str = "cosine", use_gpu: bool | None = None) -> None:
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; choose one of {sorted(METRICS)}")
        self.dim, self.factory, self.metric = dim, factory, metric
        try:
            inner = faiss.index_factory(dim, factory, METRICS[metric])
        except RuntimeError as exc:
            raise FactoryError(f"FAISS cannot build factory string {factory!r}: {exc}") from exc
        self._init(faiss.IndexIDMap2(inner) if not factory.startswith("IDMap") else inner, use_gpu)

    def _init(self, cpu_index: faiss.Index, use_gpu: bool | None) -> None:
        self._cpu = cpu_index
        self._lock = threading.Lock()
        self._want_gpu = gpu_count() > 0 if use_gpu is None else use_gpu
        self._gpu = None
        self._gpu_resources = None

    @property
    def ntotal(self) -> int:
        return int(self._cpu.ntotal)

    @property
    def is_trained(self) -> bool:
        return bool(self._cpu.is_trained)

    @property
    def on_gpu(self) -> bool:
        return self._gpu is not None

    def train(self, vectors: np.ndarray) -> None:
        """Train index types that need it (IVF, PQ); a no-op for the others.

        FactoryError where there are too few vectors for the type (fewer than its IVF lists or PQ
        centroids), naming how many it needs.
        """
        vectors = _as_matrix(vectors, self.dim)
        with self._lock:
            self._train(vectors)

    def _train(self, vectors: np.ndarray) -> None:
        if self._cpu.is_trained:
            return
        try:
            self._cpu.train(vectors)
        except RuntimeError as exc:
            found = _TOO_FEW.search(str(exc))
            if found is None:
                raise FactoryError(f"FAISS cannot train {self.factory!r} on {len(vectors)} vectors: {exc}") from exc
            need, lists = int(found.group(2)), max(1, int(len(vectors) ** 0.5))
            raise FactoryError(
                f"FAISS type {self.factory!r} needs at least {need} training vectors (one per cluster), "
                f"got {len(vectors)}: use fewer IVF lists or PQ bits (e.g. IVF{lists},Flat), "
                "or Flat or HNSW32 for a corpus this small"
            ) from exc
        self._gpu = None

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Add vectors under int64 ids (training first if the type needs it and is untrained)."""
        vectors = _as_matrix(vectors, self.dim)
        ids = np.ascontiguousarray(np.asarray(ids, dtype=np.int64))
        if len(ids) != len(vectors):
            raise ValueError(f"{len(vectors)} vectors but {len(ids)} ids")
        with self._lock:
            self._train(vectors)
            self._cpu.add_with_ids(vectors, ids)
            self._gpu = None  # rebuilt lazily at the next search

    def remove(self, ids: np.ndarray) -> int:
        """Remove ids; raises NotImplementedError for FAISS types that cannot remove (HNSW, ...)."""
        selector = faiss.IDSelectorBatch(np.ascontiguousarray(np.asarray(ids, dtype=np.int64)))
        with self._lock:
            try:
                removed = int(self._cpu.remove_ids(selector))
            except RuntimeError as exc:
                raise NotImplementedError(
                    f"FAISS index type {self.factory!r} does not support removing vectors ({exc}). "
                    "Rebuild the index without those documents, or use a type that supports removal "
                    "(Flat, IVF...)."
                ) from exc
            self._gpu = None
        return removed

    def _searcher(self, k: int) -> faiss.Index:
        if not self._want_gpu or k > GPU_MAX_K:
            return self._cpu
        if self._gpu is None:
            try:
                self._gpu_resources = self._gpu_resources or faiss.StandardGpuResources()
                self._gpu = faiss.index_cpu_to_gpu(self._gpu_resources, 0, self._cpu)
            except (AttributeError, RuntimeError):
                self._want_gpu = False  # this type has no GPU implementation: stay on the CPU
                return self._cpu
        return self._gpu

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) per query, best first; k is clamped to the number of vectors.

        Scores are similarities (higher is better): inner products, or negated squared L2 distances.
        Rows may end in id -1 where an approximate index found fewer than k vectors.
        """
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        queries = _as_matrix(queries, self.dim)
        with self._lock:
            k = min(k, self.ntotal)
            if k == 0:
                empty = np.zeros((len(queries), 0))
                return empty.astype(np.float32), empty.astype(np.int64)
            searcher = self._searcher(k)
            if searcher is self._cpu and len(queries) <= SMALL_SEARCH:
                with _one_omp_thread():
                    scores, ids = searcher.search(queries, k)
            else:
                scores, ids = searcher.search(queries, k)
        if self.metric == "l2":
            scores = -scores
        return scores, ids

    def reconstruct(self, row_id: int) -> np.ndarray:
        """The stored vector of one id (exact for Flat, approximate for compressed types)."""
        return self._cpu.reconstruct(int(row_id))

    def ids(self) -> np.ndarray | None:
        """Every stored id, where the FAISS type keeps an id map (None otherwise)."""
        id_map = getattr(self._cpu, "id_map", None)
        return None if id_map is None else faiss.vector_to_array(id_map).astype(np.int64)

    def write(self, path: str | Path) -> None:
        """Write the CPU index (a GPU copy is never written)."""
        with self._lock:
            faiss.write_index(self._cpu, str(path))

    @classmethod
    def read(cls, path: str | Path, factory: str, metric: str, use_gpu: bool | None = None) -> VectorIndex:
        self = cls.__new__(cls)
        self.factory, self.metric = factory, metric
        cpu = faiss.read_index(str(path))
        self.dim = cpu.d
        self._init(cpu, use_gpu)
        return self
