"""The manifest that makes an index directory describe itself."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FORMAT_VERSION", "Manifest", "library_versions"]

FORMAT_VERSION = 1


def library_versions() -> dict[str, str]:
    """Versions of the libraries an index depends on (those importable without side effects)."""
    import importlib.metadata as md

    out = {}
    for name in ("faiss-cpu", "faiss-gpu-cu12", "numpy", "pyarrow", "sentence-transformers", "transformers", "torch"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out


@dataclass(frozen=True)
class Manifest:
    """What an index holds and how it was made.

    `encoder` is the encoder's own description (name, revision, dimension, prompts, a probe
    embedding): the retrieval layer writes and checks it. `files` maps each file to its size and
    sha256 so that truncation and corruption are caught at load time.
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

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(f"index format version {version!r}; this library reads version {FORMAT_VERSION}")
        return cls(**data)

    def write(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")
