"""Arrow document store: row id, doc id, title, text and metadata, saved as Parquet."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from indexes.documents import Document

__all__ = ["DocStore"]

SCHEMA = pa.schema(
    [
        ("row_id", pa.int64()),
        ("doc_id", pa.string()),
        ("title", pa.string()),
        ("text", pa.string()),
        ("metadata", pa.string()),
    ]
)


class DocStore:
    """Documents keyed by the int64 row ids that FAISS stores.

    Example:
        >>> store = DocStore()
        >>> store.add([Document("a", "hello")], np.array([0]))
        >>> store.get_rows([0])[0].doc_id
        'a'
    """

    def __init__(self, table: pa.Table | None = None) -> None:
        self._table = table if table is not None else SCHEMA.empty_table()
        self._reindex()

    def _reindex(self) -> None:
        rows = self._table.column("row_id").to_numpy()
        self._position = {int(r): i for i, r in enumerate(rows)}
        self._row_of = {d: int(r) for d, r in zip(self._table.column("doc_id").to_pylist(), rows)}
        self._cache: list[Document | None] = [None] * len(rows)

    def __len__(self) -> int:
        return self._table.num_rows

    @property
    def doc_ids(self) -> list[str]:
        return self._table.column("doc_id").to_pylist()

    @property
    def row_ids(self) -> np.ndarray:
        """The row id of every document, in insertion order."""
        return self._table.column("row_id").to_numpy()

    def __contains__(self, doc_id: str) -> bool:
        return doc_id in self._row_of

    def add(self, documents: Sequence[Document], row_ids: np.ndarray) -> None:
        """Append documents under the given row ids."""
        batch = pa.table(
            {
                "row_id": pa.array(np.asarray(row_ids, dtype=np.int64)),
                "doc_id": [d.doc_id for d in documents],
                "title": [d.title for d in documents],
                "text": [d.text for d in documents],
                "metadata": [json.dumps(dict(d.metadata), sort_keys=True) for d in documents],
            },
            schema=SCHEMA,
        )
        self._table = pa.concat_tables([self._table, batch]).combine_chunks()
        self._reindex()

    def row_ids_of(self, doc_ids: Iterable[str]) -> np.ndarray:
        """Row ids of the given doc ids; KeyError names those that are unknown."""
        doc_ids = list(doc_ids)
        missing = [d for d in doc_ids if d not in self._row_of]
        if missing:
            raise KeyError(f"unknown doc id(s): {missing[:10]}")
        return np.array([self._row_of[d] for d in doc_ids], dtype=np.int64)

    def remove(self, doc_ids: Iterable[str]) -> np.ndarray:
        """Drop documents; returns their row ids."""
        rows = self.row_ids_of(doc_ids)
        keep = pc.invert(pc.is_in(self._table.column("row_id"), value_set=pa.array(rows)))
        self._table = self._table.filter(keep)
        self._reindex()
        return rows

    def get_rows(self, row_ids: Iterable[int]) -> list[Document]:
        """Documents for FAISS row ids, in the order given."""
        out = []
        for row in row_ids:
            i = self._position[int(row)]
            doc = self._cache[i]
            if doc is None:
                rec = self._table.slice(i, 1).to_pylist()[0]
                doc = Document(rec["doc_id"], rec["text"], rec["title"], json.loads(rec["metadata"]))
                self._cache[i] = doc
            out.append(doc)
        return out

    def documents(self) -> list[Document]:
        """Every stored document, in insertion order."""
        return self.get_rows(self._table.column("row_id").to_pylist())

    def save(self, path: str | Path) -> None:
        pq.write_table(self._table, path)

    @classmethod
    def load(cls, path: str | Path) -> DocStore:
        table = pq.read_table(path)
        if table.schema.names != SCHEMA.names:
            raise ValueError(f"{path}: unexpected columns {table.schema.names}, expected {SCHEMA.names}")
        return cls(table.cast(SCHEMA))
