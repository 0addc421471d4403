"""`shards.json`: the manifest of a sharded index directory, its checksums and its atomic commit."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from indexes.errors import IndexFormatError
from indexes.fsops import file_sha256
from indexes.manifest import library_versions

__all__ = ["SHARDS_FILE", "SHARDS_FORMAT_VERSION", "ShardEntry", "ShardsManifest", "file_listing", "verify_listing"]

SHARDS_FILE = "shards.json"
SHARDS_FORMAT_VERSION = 1
# Names this library writes inside a sharded directory: `g0003-shard-00001/`, `g0003-trained.faiss`.
GENERATION_NAME = re.compile(r"^g(\d{4,})-(shard-\d{5,}|trained\.faiss)$")


def _listed(path: Path) -> bool:
    """Files a listing covers: not hidden (temporary files, backups) and not lock files."""
    return not any(part.startswith(".") for part in path.parts) and path.suffix != ".lock"


def file_listing(root: str | Path) -> dict[str, dict[str, Any]]:
    """Size and sha256 of every regular file under `root` (or of `root` itself when it is a file).

    Example:
        >>> file_listing("some/index/dir")  # doctest: +SKIP
        {'docs.parquet': {'bytes': 812, 'sha256': '...'}, 'manifest.json': {...}, 'vectors.faiss': {...}}
    """
    root = Path(root)
    if root.is_file():
        return {"": {"bytes": root.stat().st_size, "sha256": file_sha256(root)}}
    out = {}
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = file.relative_to(root)
        if _listed(rel):
            out[rel.as_posix()] = {"bytes": file.stat().st_size, "sha256": file_sha256(file)}
    return out


def verify_listing(root: str | Path, listing: dict[str, dict[str, Any]], checksums: bool = True) -> None:
    """Raise IndexFormatError unless every listed file under `root` has its size (and sha256)."""
    root = Path(root)
    for rel, expected in listing.items():
        file = root / rel if rel else root
        if not file.is_file():
            raise IndexFormatError(f"{file} is missing; the sharded index is incomplete, rebuild it")
        size = file.stat().st_size
        if size != expected["bytes"]:
            raise IndexFormatError(f"{file} has {size} bytes, {SHARDS_FILE} says {expected['bytes']}: truncated")
        if checksums and file_sha256(file) != expected["sha256"]:
            raise IndexFormatError(f"{file} does not match its checksum in {SHARDS_FILE}: corrupt; rebuild it")


@dataclass(frozen=True)
class ShardEntry:
    """One shard: its directory name, its document count and the checksums of its files."""

    name: str
    doc_count: int
    files: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class ShardsManifest:
    """What a sharded index holds: the shared index settings and one entry per shard, in shard order.

    Shard order is the global document order: shard 0 holds the first documents of the corpus.
    `trained` names the file of the trained, empty FAISS index (IVF/PQ) that every shard was
    copied from, so that all shards share one quantizer; None for types that need no training.
    `generation` grows with every build into the same directory; the shards of older generations
    are deleted once this file names the new ones.
    """

    dim: int
    metric: str
    normalize: bool
    factory: str
    doc_count: int
    generation: int
    shards: tuple[ShardEntry, ...]
    encoder: dict[str, Any] = field(default_factory=dict)
    trained: dict[str, Any] | None = None
    assignment: str = "contiguous"
    libraries: dict[str, str] = field(default_factory=library_versions)
    format_version: int = SHARDS_FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ShardsManifest:
        data = json.loads(text)
        version = data.get("format_version")
        if version != SHARDS_FORMAT_VERSION:
            raise ValueError(f"sharded index format version {version!r}; this library reads {SHARDS_FORMAT_VERSION}")
        data["shards"] = tuple(ShardEntry(**entry) for entry in data["shards"])
        return cls(**data)

    @classmethod
    def read(cls, path: str | Path) -> ShardsManifest:
        """Read `path/shards.json`, raising IndexFormatError when it is missing or unreadable."""
        file = Path(path) / SHARDS_FILE
        if not file.is_file():
            raise IndexFormatError(f"{path} is not a sharded index directory (no {SHARDS_FILE})")
        try:
            return cls.from_json(file.read_text(encoding="utf-8"))
        except (ValueError, TypeError, KeyError) as exc:
            raise IndexFormatError(f"{file} is corrupt or of another version: {exc}") from exc

    def commit(self, path: str | Path) -> None:
        """Write `path/shards.json` atomically (temporary file, fsync, rename, fsync of the directory)."""
        path = Path(path)
        tmp = path / f".{SHARDS_FILE}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(self.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path / SHARDS_FILE)
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
