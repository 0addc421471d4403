"""An index is a directory that describes itself: manifest.json, vectors.faiss and docs.parquet."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from indexes.docstore import DocStore
from indexes.documents import Document, validate_documents
from indexes.errors import IndexFormatError
from indexes.manifest import Manifest, library_versions
from indexes.vectors import VectorIndex

__all__ = ["Index"]

MANIFEST, VECTORS, DOCS = "manifest.json", "vectors.faiss", "docs.parquet"


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            sha.update(block)
    return sha.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _backup_of(path: Path) -> Path:
    return path.with_name(f".{path.name}.previous")


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

    def _prepare(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim == 2 and self._manifest.normalize:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.maximum(norms, 1e-12)
        return vectors

    def add(self, documents: Sequence[Any], vectors: np.ndarray) -> None:
        """Add documents with their vectors, in one step: either all are added or none."""
        with self._lock:
            docs = validate_documents(documents, existing_ids=self.docs.doc_ids)
            vectors = self._prepare(vectors)
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
        """Remove documents by id; NotImplementedError where the FAISS type cannot remove."""
        with self._lock:
            doc_ids = list(doc_ids)
            rows = self.docs.row_ids_of(doc_ids)
            self.vectors.remove(rows)
            self.docs.remove(doc_ids)
            self._manifest = replace(self._manifest, doc_count=len(self.docs))
            return len(rows)

    def search(self, queries: np.ndarray, k: int) -> list[list[tuple[Document, float]]]:
        """Top-k (document, score) per query vector, best first; fewer when the corpus is smaller."""
        queries = self._prepare(queries)
        with self._lock:
            scores, ids = self.vectors.search(queries, k)
            out = []
            for row_scores, row_ids in zip(scores, ids):
                keep = row_ids >= 0
                docs = self.docs.get_rows(row_ids[keep])
                out.append(list(zip(docs, (float(s) for s in row_scores[keep]))))
        return out

    def save(self, path: str | Path) -> Path:
        """Write the index directory atomically: a crash mid-save leaves the previous index intact."""
        path = Path(path).absolute()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
            try:
                self.vectors.write(tmp / VECTORS)
                self.docs.save(tmp / DOCS)
                files = {}
                for name in (VECTORS, DOCS):
                    with open(tmp / name, "rb") as handle:
                        os.fsync(handle.fileno())
                    files[name] = {"bytes": (tmp / name).stat().st_size, "sha256": _digest(tmp / name)}
                manifest = replace(self._manifest, files=files, libraries=library_versions())
                manifest.write(tmp / MANIFEST)
                with open(tmp / MANIFEST, "rb") as handle:
                    os.fsync(handle.fileno())
                _fsync_dir(tmp)
                backup = _backup_of(path)
                if backup.exists():
                    shutil.rmtree(backup)
                if path.exists():
                    os.rename(path, backup)
                os.rename(tmp, path)
                _fsync_dir(path.parent)
                if backup.exists():
                    shutil.rmtree(backup)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            self._manifest = manifest
        return path

    @classmethod
    def load(cls, path: str | Path, use_gpu: bool | None = None, verify: bool = True) -> Index:
        """Read an index directory, checking sizes (and with `verify`, checksums) of every file."""
        path = Path(path)
        if not path.exists() and _backup_of(path).exists():
            warnings.warn(f"{path} is missing: a save was interrupted; loading the previous index", stacklevel=2)
            path = _backup_of(path)
        if not (path / MANIFEST).exists():
            raise IndexFormatError(f"{path} is not an index directory (no {MANIFEST}); build one with indexes.build")
        try:
            manifest = Manifest.from_json((path / MANIFEST).read_text(encoding="utf-8"))
        except (ValueError, TypeError) as exc:
            raise IndexFormatError(f"{path / MANIFEST} is corrupt or of another version: {exc}") from exc
        for name in (VECTORS, DOCS):
            expected = manifest.files.get(name)
            file = path / name
            if expected is None or not file.exists():
                raise IndexFormatError(f"{file} is missing; the index is incomplete, rebuild it")
            size = file.stat().st_size
            if size != expected["bytes"]:
                raise IndexFormatError(
                    f"{file} has {size} bytes, the manifest says {expected['bytes']}: truncated; rebuild the index"
                )
            if verify and _digest(file) != expected["sha256"]:
                raise IndexFormatError(f"{file} does not match its checksum: corrupt; rebuild the index")
        try:
            vectors = VectorIndex.read(path / VECTORS, manifest.factory, manifest.metric, use_gpu=use_gpu)
            docs = DocStore.load(path / DOCS)
        except (RuntimeError, OSError, ValueError) as exc:
            raise IndexFormatError(f"{path}: cannot read the index files ({exc}); rebuild the index") from exc
        if vectors.ntotal != len(docs) or len(docs) != manifest.doc_count:
            raise IndexFormatError(
                f"{path}: {vectors.ntotal} vectors, {len(docs)} documents, manifest says {manifest.doc_count}"
            )
        return cls(vectors, docs, manifest)
