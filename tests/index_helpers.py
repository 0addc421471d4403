"""Small indexes built from numpy vectors (the storage layer has no encoder), and what they hold."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from indexes import Document, Index

DIM = 8
QUERIES = np.random.default_rng(99).standard_normal((4, DIM)).astype(np.float32)
ENCODER = {"name": "fake-encoder", "dim": DIM, "probe": [0.125, -0.5, 0.25, 1.0, 0.0, 0.75, -0.25, 0.5]}


def vectors(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def documents(n: int, prefix: str = "d") -> list[Document]:
    return [Document(f"{prefix}{i}", f"text {prefix} {i}", f"title {i}", {"i": i}) for i in range(n)]


def make_index(n: int = 30, seed: int = 0, factory: str = "Flat") -> Index:
    index = Index.create(DIM, factory, "ip", encoder=ENCODER)
    index.add(documents(n), vectors(n, seed))
    return index


def state(index: Index) -> tuple:
    """Everything a user can observe: documents, stored vectors, row-id counter, top-10 of fixed queries."""
    docs = index.docs.documents()
    stored = np.stack([index.vectors.reconstruct(int(r)) for r in index.docs.row_ids]) if docs else np.zeros(0)
    top = tuple(tuple((d.doc_id, s) for d, s in hits) for hits in index.search(QUERIES, 10))
    described = tuple((d.doc_id, d.text, d.title, json.dumps(dict(d.metadata), sort_keys=True)) for d in docs)
    return described, stored.tobytes(), index.manifest.next_row_id, top


def write_format1(index: Index, path: Path) -> None:
    """An index folder as the format-1 writer left it: fixed file names, manifest without checksum."""
    path.mkdir(parents=True)
    index.vectors.write(path / "vectors.faiss")
    index.docs.save(path / "docs.parquet")
    files = {}
    for name in ("vectors.faiss", "docs.parquet"):
        data = (path / name).read_bytes()
        files[name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    manifest = asdict(index.manifest)
    manifest.pop("generation")
    manifest.update(files=files, format_version=1)
    (path / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


def resign(data: dict) -> str:
    """A format-2 manifest text for `data`, with the checksum the format specifies (as a tool would)."""
    body = {k: v for k, v in data.items() if k != "checksum"}
    compact = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    signed = dict(body, checksum=hashlib.sha256(compact.encode("ascii")).hexdigest())
    return json.dumps(signed, sort_keys=True, indent=2, ensure_ascii=True) + "\n"
