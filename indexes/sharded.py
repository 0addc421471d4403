"""A sharded index: N shard indexes, searched in-process or by Ray actors, merged into one top-k.

A sharded index directory holds one normal index directory per shard (each written by
`Index.save`, so each has that format's checks and crash safety) and `shards.json`, which lists
the shards in order with the checksums of their files (`indexes.shard_manifest`). `ShardedIndex`
has the search interface of `Index` (`search`, `manifest`, `len`), so `Searcher` uses either.

Search is query-then-fetch: every shard returns its top-k (score, row) pairs, the pairs are merged
by score (higher first), then shard order, then row, so equal scores always come back in the same
order; then only the documents of the merged top-k are fetched. A shard that does not answer
raises `ShardUnavailableError`: results are never silently partial.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from indexes.documents import Document
from indexes.errors import IndexFormatError
from indexes.index import Index
from indexes.manifest import Manifest
from indexes.shard_manifest import SHARDS_FILE, ShardsManifest, verify_listing

__all__ = [
    "LocalShards",
    "ShardError",
    "ShardTimeoutError",
    "ShardUnavailableError",
    "ShardedIndex",
    "is_sharded",
    "load_any_index",
    "load_shard",
    "merge_top_k",
    "set_search_params",
]


class ShardError(RuntimeError):
    """A sharded index that cannot answer or cannot be built as asked."""


class ShardUnavailableError(ShardError):
    """A shard did not answer (its actor died and was not restarted, or its retries ran out).

    The query fails as a whole; no partial result is returned.
    """


class ShardTimeoutError(ShardUnavailableError):
    """A shard did not answer within the time limit given."""


def set_search_params(index: Index, params: str) -> None:
    """Set FAISS search parameters on an index (``"nprobe=16"``, ``"efSearch=64"``, ...)."""
    import faiss

    # The CPU index is the one searched on CPU and the one a GPU copy is made from.
    faiss.ParameterSpace().set_index_parameters(index.vectors._cpu, params)  # noqa: SLF001


def load_shard(
    path: str | Path,
    files: dict[str, Any],
    verify: bool = True,
    use_gpu: bool | None = None,
    search_params: str | None = None,
) -> Index:
    """Load one shard after checking its files against the listing in `shards.json`."""
    verify_listing(path, files, checksums=verify)
    index = Index.load(path, use_gpu=use_gpu, verify=False)  # checksums were just checked against shards.json
    if search_params:
        set_search_params(index, search_params)
    return index


def search_rows(index: Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """One shard's top-k as (scores, rows); rows of -1 are empty slots."""
    return index.vectors.search(index.prepare_vectors(queries), k)


def merge_top_k(per_shard: Sequence[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, ...]:
    """Merge the shards' (scores, rows) into the top k by score desc, then shard order, then row.

    Returns (scores, shard, row) arrays of shape (queries, k'), k' <= k; a row of -1 marks an
    empty slot (fewer than k' hits for that query).

    Example:
        >>> a = (np.array([[1.0, 0.5]]), np.array([[3, 1]]))
        >>> b = (np.array([[1.0, 0.75]]), np.array([[0, 2]]))
        >>> [x.tolist() for x in merge_top_k([a, b], 3)]
        [[[1.0, 1.0, 0.75]], [[0, 1, 1]], [[3, 0, 2]]]
    """
    scores = np.concatenate([np.asarray(s, dtype=np.float32) for s, _ in per_shard], axis=1)
    rows = np.concatenate([np.asarray(r, dtype=np.int64) for _, r in per_shard], axis=1)
    shard = np.concatenate([np.full(np.shape(r), i, dtype=np.int64) for i, (_, r) in enumerate(per_shard)], axis=1)
    empty = rows < 0
    keys = np.where(empty, np.inf, -scores.astype(np.float64))
    order = np.lexsort((np.where(empty, np.iinfo(np.int64).max, rows), shard, keys), axis=-1)[:, :k]
    rows_out = np.take_along_axis(rows, order, axis=1)
    shard_out = np.take_along_axis(shard, order, axis=1)
    return np.take_along_axis(scores, order, axis=1), np.where(rows_out < 0, -1, shard_out), rows_out


class ShardBackend(Protocol):
    """Where the shards live: in this process (`LocalShards`) or in Ray actors (`indexes.shard_actors`)."""

    def search_rows(self, queries: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]: ...

    def fetch(self, rows: Sequence[np.ndarray]) -> list[list[Document]]: ...

    def close(self) -> None: ...


class LocalShards:
    """Shards held in this process, searched one after the other."""

    def __init__(self, shards: Sequence[Index]) -> None:
        self.shards = list(shards)

    def search_rows(self, queries: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
        return [search_rows(shard, queries, k) for shard in self.shards]

    def fetch(self, rows: Sequence[np.ndarray]) -> list[list[Document]]:
        return [shard.docs.get_rows(r) if len(r) else [] for shard, r in zip(self.shards, rows)]

    def close(self) -> None:
        self.shards = []


class ShardedIndex:
    """A read-only index of N shards with the search interface of `Index`.

    Args:
        backend: the shards (`LocalShards`, or `indexes.shard_actors.RayShards`).
        layout: the `shards.json` manifest the shards were loaded from.
        path: the directory, when loaded from one.

    Example:
        >>> index = ShardedIndex.load("indexes/scifact-4")  # doctest: +SKIP
        >>> index = ShardedIndex.load("indexes/scifact-4", ray=True)  # one Ray actor per shard  # doctest: +SKIP
        >>> hits = index.search(query_vectors, 10)  # doctest: +SKIP
    """

    def __init__(self, backend: ShardBackend, layout: ShardsManifest, path: Path | None = None) -> None:
        self.backend, self.layout, self.path = backend, layout, path
        self._manifest = Manifest(
            layout.dim, layout.metric, layout.normalize, layout.factory, layout.doc_count, layout.doc_count,
            encoder=dict(layout.encoder), libraries=dict(layout.libraries),
        )

    @classmethod
    def load(
        cls,
        path: str | Path,
        ray: bool | str | None = None,
        use_gpu: bool | None = None,
        verify: bool = True,
        search_params: str | None = None,
        **ray_options: Any,
    ) -> ShardedIndex:
        """Load a sharded index directory.

        Args:
            path: the directory holding ``shards.json``.
            ray: None or False: shards in this process. True: one Ray actor per shard on the cluster
                this process is connected to (a local one is started when none is). A string: the
                address of the Ray cluster to connect to.
            use_gpu: passed to each shard's `Index.load`.
            verify: check every shard file's sha256 against ``shards.json`` (sizes are always checked).
            search_params: FAISS parameters set on every shard (``"nprobe=16"``).
            ray_options: options of `indexes.shard_actors.RayShards` (``max_restarts``, ``timeout_s``, ...).
        """
        path = Path(path)
        layout = ShardsManifest.read(path)
        if ray:
            from indexes.shard_actors import RayShards

            address = ray if isinstance(ray, str) else None
            backend = RayShards(path, layout, address=address, use_gpu=use_gpu, verify=verify,
                                search_params=search_params, **ray_options)
        else:
            if ray_options:
                raise TypeError(f"options {sorted(ray_options)} apply to Ray shards only; pass ray=True")
            shards = [load_shard(path / e.name, e.files, verify, use_gpu, search_params) for e in layout.shards]
            for entry, shard in zip(layout.shards, shards):
                if len(shard) != entry.doc_count:
                    raise IndexFormatError(f"{path / entry.name}: {len(shard)} documents, {SHARDS_FILE} says "
                                           f"{entry.doc_count}")
            backend = LocalShards(shards)
        return cls(backend, layout, path)

    @property
    def manifest(self) -> Manifest:
        """The settings every shard shares, as one index's manifest (doc_count is the total)."""
        return self._manifest

    @property
    def num_shards(self) -> int:
        return len(self.layout.shards)

    def __len__(self) -> int:
        return self.layout.doc_count

    def search(self, queries: np.ndarray, k: int) -> list[list[tuple[Document, float]]]:
        """Top-k (document, score) per query vector over all shards, best first."""
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        queries = np.asarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.layout.dim:
            raise ValueError(f"expected vectors of shape (n, {self.layout.dim}), got {queries.shape}")
        per_shard = self.backend.search_rows(queries, k)
        if len(per_shard) != self.num_shards:
            raise ShardUnavailableError(f"{len(per_shard)} of {self.num_shards} shards answered")
        scores, shard, rows = merge_top_k(per_shard, k)
        wanted = [np.unique(rows[shard == i]) for i in range(self.num_shards)]
        fetched = self.backend.fetch(wanted)
        lookup = {(i, int(r)): doc for i, (rs, docs) in enumerate(zip(wanted, fetched)) for r, doc in zip(rs, docs)}
        return [
            [(lookup[(int(s), int(r))], float(v)) for v, s, r in zip(qs, qsh, qr) if r >= 0]
            for qs, qsh, qr in zip(scores, shard, rows)
        ]

    def close(self) -> None:
        """Release the shards (Ray actors are killed)."""
        self.backend.close()

    def __enter__(self) -> ShardedIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def is_sharded(path: str | Path) -> bool:
    """Whether `path` is a sharded index directory (it holds ``shards.json``)."""
    return (Path(path) / SHARDS_FILE).is_file()


def load_any_index(path: str | Path, use_gpu: bool | None = None, **options: Any) -> Index | ShardedIndex:
    """`ShardedIndex.load` for a directory with ``shards.json``, else `Index.load`.

    `options` go to `ShardedIndex.load` (``ray``, ``search_params``, ...); a single index takes none.
    """
    if is_sharded(path):
        return ShardedIndex.load(path, use_gpu=use_gpu, **options)
    if options:
        raise TypeError(f"{path} is a single index; options {sorted(options)} apply to sharded indexes only")
    return Index.load(path, use_gpu=use_gpu)
