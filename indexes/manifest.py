"""The manifest that makes an index directory describe itself, checked field by field and by checksum.

The manifest is written in one canonical form (sorted keys, two-space indent, ASCII) with a
`checksum` field: the sha256 of the other fields in compact canonical JSON. Loading validates
every field, recomputes the checksum and requires the text to be exactly the canonical form, so
any changed byte is refused with an `IndexFormatError` that names the manifest (and the field,
where one is missing or has a bad value). Format 1 manifests, written before the checksum, are
still read: their fields are validated the same way, without the checksum.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from indexes.errors import IndexFormatError

__all__ = ["FORMAT_VERSION", "Manifest", "data_file_names", "library_versions"]

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
METRIC_NAMES = ("cosine", "ip", "l2")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_LEGACY_FILES = {"vectors": "vectors.faiss", "docs": "docs.parquet"}


@functools.cache
def _installed_versions() -> tuple[tuple[str, str], ...]:
    import importlib.metadata as md

    out = {}
    for name in ("faiss-cpu", "faiss-gpu-cu12", "numpy", "pyarrow", "sentence-transformers", "transformers", "torch"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return tuple(out.items())


def library_versions() -> dict[str, str]:
    """Versions of the libraries an index depends on (read once per process: reading them is slow)."""
    return dict(_installed_versions())


def data_file_names(format_version: int, generation: int) -> dict[str, str]:
    """The vectors and docs file names of one saved version: ``vectors.000003.faiss``, ...

    Format 1 used fixed names (``vectors.faiss``, ``docs.parquet``).
    """
    if format_version == 1:
        return dict(_LEGACY_FILES)
    return {"vectors": f"vectors.{generation:06d}.faiss", "docs": f"docs.{generation:06d}.parquet"}


def _canonical(data: dict[str, Any], compact: bool = False) -> str:
    if compact:
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=True, allow_nan=False) + "\n"


def _checksum(data: dict[str, Any]) -> str:
    body = {k: v for k, v in data.items() if k != "checksum"}
    return hashlib.sha256(_canonical(body, compact=True).encode("ascii")).hexdigest()


@dataclass(frozen=True)
class Manifest:
    """What an index holds and how it was made.

    `encoder` is the encoder's own description (name, revision, dimension, prompts, a probe
    embedding): the retrieval layer writes and checks it. `files` maps each data file to its size
    and sha256 so that truncation and corruption are caught at load time. `generation` counts the
    saves into one directory and names that save's data files.

    Example:
        >>> m = Manifest(dim=4, metric="cosine", normalize=True, factory="Flat", doc_count=0, next_row_id=0)
        >>> sorted(json.loads(m.to_json()))[:3]
        ['checksum', 'dim', 'doc_count']
    """

    dim: int
    metric: str
    normalize: bool
    factory: str
    doc_count: int
    next_row_id: int
    encoder: dict[str, Any] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    libraries: dict[str, str] = field(default_factory=library_versions)
    format_version: int = FORMAT_VERSION
    generation: int = 0

    def to_json(self) -> str:
        """The canonical text, checksum included (always written in the current format)."""
        data = asdict(replace(self, format_version=FORMAT_VERSION))
        data["checksum"] = _checksum(data)
        return _canonical(data)

    @classmethod
    def from_json(cls, text: str, source: str | Path) -> Manifest:
        """Parse and check a manifest; `source` names the file in every error."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise IndexFormatError(f"{source}: not valid JSON ({exc}); the manifest is corrupt") from exc
        if not isinstance(data, dict):
            raise IndexFormatError(f"{source}: expected a JSON object, got {type(data).__name__}")
        version = data.get("format_version")
        if type(version) is not int or version not in READABLE_VERSIONS:
            raise IndexFormatError(
                f"{source}: field 'format_version' is {version!r}; this library reads versions "
                f"{', '.join(map(str, READABLE_VERSIONS))} (a newer library wrote it, or the manifest is corrupt)"
            )
        _Fields(data, source, version).check()
        if version >= 2:
            if data["checksum"] != _checksum(data):
                raise IndexFormatError(f"{source}: checksum mismatch; the manifest is corrupt or was edited")
            if text != _canonical(data):
                raise IndexFormatError(f"{source}: not in canonical form; the manifest is corrupt or was edited")
        data.pop("checksum", None)
        if version == 1:
            data["generation"] = 0
        return cls(**data)

    def data_files(self) -> dict[str, str]:
        """This manifest's data file names by role (``vectors``, ``docs``)."""
        return data_file_names(self.format_version, self.generation)


class _Fields:
    """Validation of every manifest field, each failure naming the file and the field."""

    def __init__(self, data: dict[str, Any], source: str | Path, version: int) -> None:
        self.data, self.source, self.version = data, source, version

    def fail(self, name: str, problem: str) -> IndexFormatError:
        return IndexFormatError(
            f"{self.source}: field {name!r} {problem}; the manifest is corrupt or was edited, rebuild the index"
        )

    def get(self, name: str) -> Any:
        if name not in self.data:
            raise self.fail(name, "is missing")
        return self.data[name]

    def integer(self, name: str, minimum: int) -> int:
        value = self.get(name)
        if type(value) is not int or value < minimum:
            raise self.fail(name, f"is {value!r}, expected an integer >= {minimum}")
        return value

    def mapping(self, name: str) -> dict[str, Any]:
        value = self.get(name)
        if not isinstance(value, dict):
            raise self.fail(name, f"is {type(value).__name__}, expected an object")
        return value

    def check(self) -> None:
        expected = {f.name for f in Manifest.__dataclass_fields__.values()}
        if self.version == 1:
            expected.discard("generation")
        else:
            expected.add("checksum")
        unknown = sorted(set(self.data) - expected)
        if unknown:
            raise self.fail(unknown[0], "is not a manifest field")
        self.integer("dim", 1)
        if self.get("metric") not in METRIC_NAMES:
            raise self.fail("metric", f"is {self.data['metric']!r}, expected one of {list(METRIC_NAMES)}")
        if type(self.get("normalize")) is not bool:
            raise self.fail("normalize", f"is {self.data['normalize']!r}, expected true or false")
        factory = self.get("factory")
        if not isinstance(factory, str) or not factory.strip():
            raise self.fail("factory", f"is {factory!r}, expected a FAISS factory string")
        doc_count = self.integer("doc_count", 0)
        self.integer("next_row_id", doc_count)
        self.mapping("encoder")
        libraries = self.mapping("libraries")
        if not all(isinstance(v, str) for v in libraries.values()):
            raise self.fail("libraries", "has a version that is not a string")
        generation = self.integer("generation", 1) if self.version >= 2 else 0
        self.check_files(data_file_names(self.version, generation))
        if self.version >= 2:
            checksum = self.get("checksum")
            if not isinstance(checksum, str) or not _SHA256.fullmatch(checksum):
                raise self.fail("checksum", f"is {checksum!r}, expected 64 hex digits")

    def check_files(self, names: dict[str, str]) -> None:
        files = self.mapping("files")
        if set(files) != set(names.values()):
            raise self.fail("files", f"lists {sorted(files)}, expected {sorted(names.values())}")
        for name, entry in files.items():
            if not isinstance(entry, dict) or set(entry) != {"bytes", "sha256"}:
                raise self.fail("files", f"entry {name!r} is {entry!r}, expected bytes and sha256")
            size, digest = entry["bytes"], entry["sha256"]
            if type(size) is not int or size < 0:
                raise self.fail("files", f"entry {name!r} has bytes {size!r}, expected a size")
            if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
                raise self.fail("files", f"entry {name!r} has sha256 {digest!r}, expected 64 hex digits")
