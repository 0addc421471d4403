"""A corpus cut into blocks, and the embedding blocks written for it: the units of distributed encoding.

A block is a byte range of a JSONL file (the lines that start inside it) or a row range of a
Parquet file. The plan is computed once and saved beside the embeddings (`plan.json`), so a rerun
cuts the corpus the same way and can skip the blocks already written. Each finished block is a
pair of files, written atomically, the vectors last:

    blocks/000012.parquet   doc_id, title, text, metadata (JSON) of the block's documents, in order
    blocks/000012.npy       float32 (rows, dim) embeddings, row i for document i

No Ray here: `retrieval.distributed` runs the blocks on a cluster.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from indexes import CorpusError, Document, validate_documents

__all__ = ["Block", "BlockPlan", "EmbeddingBlocks", "corpus_file", "plan_blocks", "read_block", "write_block"]

PLAN_FILE = "plan.json"
BLOCKS = "blocks"
_SCHEMA = pa.schema([("doc_id", pa.string()), ("title", pa.string()), ("text", pa.string()), ("metadata", pa.string())])


@dataclass(frozen=True)
class Block:
    """Block `index` of `source`: bytes [start, stop) of a JSONL file, or rows [start, stop) of a Parquet file."""

    index: int
    source: str
    kind: str
    start: int
    stop: int


@dataclass(frozen=True)
class BlockPlan:
    """How a corpus file is cut, and the file's size and modification time when it was cut."""

    source: str
    kind: str
    size: int
    mtime_ns: int
    blocks: tuple[Block, ...]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> BlockPlan:
        data = json.loads(text)
        data["blocks"] = tuple(Block(**b) for b in data["blocks"])
        return cls(**data)


def corpus_file(source: str | Path) -> Path:
    """The corpus file of a BEIR folder (``corpus.jsonl`` or ``corpus.parquet``), or `source` itself."""
    path = Path(source)
    if path.is_dir():
        found = next((path / n for n in ("corpus.jsonl", "corpus.parquet") if (path / n).exists()), None)
        if found is None:
            raise CorpusError(f"{path} is a folder without corpus.jsonl or corpus.parquet (BEIR layout expected)")
        path = found
    if not path.is_file():
        raise CorpusError(f"corpus not found: {source} (give a BEIR folder, a .jsonl or a .parquet file)")
    return path


def plan_blocks(source: str | Path, block_rows: int = 10_000) -> BlockPlan:
    """Cut a corpus file into blocks of about `block_rows` documents.

    Parquet blocks hold exactly `block_rows` rows (the last fewer). JSONL blocks are byte ranges
    sized from the mean line length of the first 1,000 lines, so their row counts vary a little.

    Example:
        >>> len(plan_blocks("scifact/", block_rows=1000).blocks)  # doctest: +SKIP
        6
    """
    if block_rows <= 0:
        raise ValueError(f"block_rows must be positive, got {block_rows}")
    path = corpus_file(source).absolute()
    stat = path.stat()
    if path.suffix == ".parquet":
        rows = pq.ParquetFile(path).metadata.num_rows
        edges = list(range(0, rows, block_rows)) + [rows]
        kind = "parquet"
    else:
        with open(path, "rb") as handle:
            head = [len(line) for _, line in zip(range(1000), handle)]
        step = max(1, int(sum(head) / max(1, len(head)) * block_rows))
        edges = list(range(0, stat.st_size, step)) + [stat.st_size]
        kind = "jsonl"
    blocks = tuple(Block(i, str(path), kind, a, b) for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])))
    return BlockPlan(str(path), kind, stat.st_size, stat.st_mtime_ns, blocks)


def _jsonl_records(block: Block) -> Iterator[dict[str, Any]]:
    with open(block.source, "rb") as handle:
        if block.start > 0:
            handle.seek(block.start - 1)
            handle.readline()  # the line holding byte start-1 belongs to the block before
        position = handle.tell()
        while position < block.stop:
            line = handle.readline()
            if not line:
                break
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise CorpusError(
                        f"{block.source}: the line at byte {position} is not valid JSON ({exc.msg}); fix or remove it"
                    ) from exc
            position += len(line)


def _parquet_records(block: Block) -> list[dict[str, Any]]:
    parquet = pq.ParquetFile(block.source)
    groups, first, offset = [], None, 0
    for g in range(parquet.metadata.num_row_groups):
        rows = parquet.metadata.row_group(g).num_rows
        if offset < block.stop and offset + rows > block.start:
            groups.append(g)
            first = offset if first is None else first
        offset += rows
    if not groups:
        return []
    table = parquet.read_row_groups(groups)
    return table.slice(block.start - first, block.stop - block.start).to_pylist()


def read_block(block: Block) -> list[Document]:
    """The validated documents of one block, in file order."""
    records = _parquet_records(block) if block.kind == "parquet" else list(_jsonl_records(block))
    return validate_documents(records)


def _atomic_write(path: Path, write: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    write(tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:  # a file object: np.save would add ".npy" to a temporary name
        np.save(handle, array)


def write_block(out_dir: str | Path, index: int, documents: Sequence[Document], vectors: np.ndarray) -> None:
    """Write one embedding block: its documents, then its vectors (the vectors file marks it finished)."""
    folder = Path(out_dir) / BLOCKS
    folder.mkdir(parents=True, exist_ok=True)
    vectors = np.asarray(vectors, dtype=np.float32)
    if len(vectors) != len(documents):
        raise ValueError(f"block {index}: {len(documents)} documents but {len(vectors)} vectors")
    table = pa.table(
        {
            "doc_id": [d.doc_id for d in documents],
            "title": [d.title for d in documents],
            "text": [d.text for d in documents],
            "metadata": [json.dumps(dict(d.metadata), sort_keys=True) for d in documents],
        },
        schema=_SCHEMA,
    )
    _atomic_write(folder / f"{index:06d}.parquet", lambda p: pq.write_table(table, p))
    _atomic_write(folder / f"{index:06d}.npy", lambda p: _save_npy(p, vectors))


class EmbeddingBlocks:
    """The embedding blocks in a folder: which are finished, their vectors and their documents.

    Example:
        >>> blocks = EmbeddingBlocks("embeddings/scifact")  # doctest: +SKIP
        >>> blocks.vectors().shape  # doctest: +SKIP
        (5183, 384)
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.plan = BlockPlan.from_json((self.path / PLAN_FILE).read_text(encoding="utf-8"))

    def _file(self, index: int, suffix: str) -> Path:
        return self.path / BLOCKS / f"{index:06d}{suffix}"

    def finished(self, index: int) -> bool:
        """Whether block `index` was written completely (both files, the same row count)."""
        vectors, docs = self._file(index, ".npy"), self._file(index, ".parquet")
        if not (vectors.exists() and docs.exists()):
            return False
        try:
            return len(np.load(vectors, mmap_mode="r")) == pq.ParquetFile(docs).metadata.num_rows
        except (OSError, ValueError):
            return False

    def missing(self) -> list[Block]:
        return [b for b in self.plan.blocks if not self.finished(b.index)]

    def rows(self, index: int) -> int:
        return len(np.load(self._file(index, ".npy"), mmap_mode="r"))

    def block_vectors(self, index: int, mmap: bool = False) -> np.ndarray:
        """Block `index`'s vectors (memory-mapped, read lazily, with `mmap`)."""
        return np.load(self._file(index, ".npy"), mmap_mode="r" if mmap else None)

    def block_documents(self, index: int) -> list[Document]:
        records = pq.read_table(self._file(index, ".parquet")).to_pylist()
        return [Document(r["doc_id"], r["text"], r["title"], json.loads(r["metadata"])) for r in records]

    def vectors(self) -> np.ndarray:
        """All vectors in corpus order."""
        return np.concatenate([self.block_vectors(b.index) for b in self.plan.blocks])

    def documents(self) -> list[Document]:
        """All documents in corpus order."""
        return [d for b in self.plan.blocks for d in self.block_documents(b.index)]

    def doc_ids(self, index: int) -> list[str]:
        return pq.read_table(self._file(index, ".parquet"), columns=["doc_id"]).column("doc_id").to_pylist()
