"""An index: vectors, documents and the manifest that ties them to an encoder, saved as one folder.

How the folder is written and replaced safely is `indexes.directory`'s business.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from indexes.directory import IndexDirectory
from indexes.docstore import DocStore
from indexes.documents import Document, validate_documents
from indexes.errors import IndexFormatError
from indexes.fsops import FileSystem
from indexes.manifest import Manifest
from indexes.vectors import VectorIndex

__all__ = ["Index"]


def _doc_ids(doc_ids: Iterable[str]) -> list[str]:
    """Ids to remove, each once, in order; a bare string (an id, not a list of ids) is refused."""
    if isinstance(doc_ids, (str, bytes, bytearray)):
        raise TypeError(
            f"remove takes a list of document ids, got the single {type(doc_ids).__name__} {doc_ids!r}; "
            f"write remove([{doc_ids!r}])"
        )
    out = []
    for doc_id in doc_ids:
        if isinstance(doc_id, int) and not isinstance(doc_id, bool):
            doc_id = str(doc_id)  # as `add` stores integer ids
        if not isinstance(doc_id, str):
            raise TypeError(f"document ids are strings, got {type(doc_id).__name__} {doc_id!r}")
        out.append(doc_id)
    return list(dict.fromkeys(out))


def _check_consistent(manifest: Manifest, vectors: VectorIndex, docs: DocStore, files: dict[str, Path]) -> None:
    """Refuse data files that disagree with each other or with the manifest."""
    where = files["vectors"].parent / "manifest.json"
    if vectors.dim != manifest.dim:
        raise IndexFormatError(f"{files['vectors']}: {vectors.dim}-d vectors, the manifest says {manifest.dim}")
    if vectors.ntotal != manifest.doc_count or len(docs) != manifest.doc_count:
        raise IndexFormatError(
            f"{where}: {vectors.ntotal} vectors and {len(docs)} documents, the manifest says {manifest.doc_count}"
        )
    rows = docs.row_ids
    if len(rows) and int(rows.max()) >= manifest.next_row_id:
        raise IndexFormatError(
            f"{where}: field 'next_row_id' is {manifest.next_row_id} but row id {int(rows.max())} is in use; "
            "documents added now would reuse row ids. The manifest is corrupt: rebuild the index"
        )
    if (len(rows) and int(rows.min()) < 0) or len(np.unique(rows)) != len(rows):
        raise IndexFormatError(f"{files['docs']}: row ids are negative or repeated; rebuild the index")
    ids = vectors.ids()
    if ids is not None and not np.array_equal(np.sort(ids), np.sort(rows)):
        raise IndexFormatError(f"{files['vectors']}: its ids are not the documents' row ids; rebuild the index")


class Index:
    """Vectors, documents and the manifest that ties them to an encoder.

    Vectors come from outside (the retrieval layer encodes); this class stores, searches and
    persists them. `normalize=True` L2-normalises every vector added (cosine similarity).

    Example:
        >>> index = Index.create(dim=2, metric="cosine")
        >>> index.add([Document("a", "x"), Document("b", "y")], np.array([[1.0, 0.0], [0.0, 1.0]]))
        >>> [(d.doc_id, round(s, 3)) for d, s in index.search(np.array([[1.0, 0.1]]), 1)[0]]
        [('a', 0.995)]
    """

    def __init__(self, vectors: VectorIndex, docs: DocStore, manifest: Manifest) -> None:
        self.vectors, self.docs = vectors, docs
        self._manifest = manifest
        self._lock = threading.RLock()
        self._origin: tuple[str, Manifest] | None = None  # (folder, manifest) last loaded from or saved to

    @classmethod
    def create(
        cls,
        dim: int,
        factory: str = "Flat",
        metric: str = "cosine",
        normalize: bool | None = None,
        encoder: dict[str, Any] | None = None,
        use_gpu: bool | None = None,
    ) -> Index:
        """An empty index; `normalize` defaults to True for the cosine metric."""
        normalize = (metric == "cosine") if normalize is None else normalize
        vectors = VectorIndex(dim, factory, metric, use_gpu=use_gpu)
        manifest = Manifest(dim, metric, normalize, factory, 0, 0, encoder=dict(encoder or {}))
        return cls(vectors, DocStore(), manifest)

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    def __len__(self) -> int:
        return len(self.docs)

    def prepare_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """`vectors` as this index stores them: float32, L2-normalised when the manifest says so."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim == 2 and self._manifest.normalize:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.maximum(norms, 1e-12)
        return vectors

    def add(self, documents: Sequence[Any], vectors: np.ndarray) -> None:
        """Add documents with their vectors, in one step: either all are added or none."""
        with self._lock:
            docs = validate_documents(documents, existing_ids=self.docs.doc_ids)
            vectors = self.prepare_vectors(vectors)
            if len(docs) != len(vectors):
                raise ValueError(f"{len(docs)} documents but {len(vectors)} vectors")
            if not docs:
                return
            start = self._manifest.next_row_id
            row_ids = np.arange(start, start + len(docs), dtype=np.int64)
            self.vectors.add(vectors, row_ids)
            try:
                self.docs.add(docs, row_ids)
            except Exception:
                self.vectors.remove(row_ids)
                raise
            self._manifest = replace(self._manifest, doc_count=len(self.docs), next_row_id=start + len(docs))

    def remove(self, doc_ids: Iterable[str]) -> int:
        """Remove documents by id, all or none; returns how many were removed (each id counts once).

        Raises TypeError for a bare string (pass a list), KeyError naming unknown ids, and
        NotImplementedError where the FAISS type cannot remove.
        """
        doc_ids = _doc_ids(doc_ids)
        with self._lock:
            rows = self.docs.row_ids_of(doc_ids)
            self.vectors.remove(rows)
            removed = self.docs.remove(doc_ids)
            self._manifest = replace(self._manifest, doc_count=len(self.docs))
            return len(removed)

    def search(self, queries: np.ndarray, k: int) -> list[list[tuple[Document, float]]]:
        """Top-k (document, score) per query vector, best first; fewer when the corpus is smaller."""
        queries = self.prepare_vectors(queries)
        with self._lock:
            scores, ids = self.vectors.search(queries, k)
            out = []
            for row_scores, row_ids in zip(scores, ids):
                keep = row_ids >= 0
                docs = self.docs.get_rows(row_ids[keep])
                out.append(list(zip(docs, (float(s) for s in row_scores[keep]))))
        return out

    def save(self, path: str | Path, *, lock_timeout: float = 10.0, fs: FileSystem | None = None) -> Path:
        """Write the index folder; a crash at any point leaves the previous index or this one loadable.

        Args:
            path: the index folder: new, empty, or one this library wrote (anything else is refused
                with IndexPathError; nothing there is deleted).
            lock_timeout: seconds to wait for another writer's lock before IndexConflictError.
            fs: the file-system steps (tests pass one that stops at a chosen step).

        Raises IndexConflictError where another process saved to `path` after this index was loaded
        from it. The protocol is described in `indexes.directory`.
        """
        directory = IndexDirectory(path, fs)
        with self._lock:
            origin = self._origin
            loaded = origin[1] if origin is not None and origin[0] == directory.key else None
            with directory.writing(lock_timeout, loaded) as current:
                writers = {"vectors": self.vectors.write, "docs": self.docs.save}
                manifest = directory.commit(current, self._manifest, writers)
            self._manifest = manifest
            self._origin = (directory.key, manifest)
        return directory.path

    @classmethod
    def load(
        cls, path: str | Path, use_gpu: bool | None = None, verify: bool = True, *, fs: FileSystem | None = None
    ) -> Index:
        """Read an index folder, checking its manifest and the size (and with `verify`, sha256) of every file.

        Leftovers of interrupted saves are deleted afterwards when no writer holds the lock.
        """
        directory = IndexDirectory(path, fs)

        def read(manifest: Manifest, files: dict[str, Path]) -> Index:
            try:
                vectors = VectorIndex.read(files["vectors"], manifest.factory, manifest.metric, use_gpu=use_gpu)
            except (RuntimeError, OSError, ValueError) as exc:
                raise IndexFormatError(f"{files['vectors']}: FAISS cannot read it ({exc}); rebuild the index") from exc
            try:
                docs = DocStore.load(files["docs"])
            except (RuntimeError, OSError, ValueError) as exc:
                raise IndexFormatError(f"{files['docs']}: cannot read it ({exc}); rebuild the index") from exc
            _check_consistent(manifest, vectors, docs, files)
            return cls(vectors, docs, manifest)

        index, manifest = directory.read(read, verify)
        if manifest is not None:
            index._origin = (directory.key, manifest)
            directory.tidy()
        return index
