"""Read a corpus from a BEIR folder, a JSONL/Parquet file, a Hugging Face dataset or Python records."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from indexes.documents import Document, validate_documents
from indexes.errors import CorpusError

__all__ = ["read_corpus", "read_jsonl"]


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a UTF-8 JSON-lines file, naming the line of any record that does not decode or parse."""
    rows = []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CorpusError(
                    f"{path}:{number}: not UTF-8 (byte {raw[exc.start]:#04x} at column {exc.start + 1}); "
                    "re-encode the file as UTF-8"
                ) from exc
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{path}:{number}: not valid JSON ({exc.msg}); fix or remove that line") from exc
    return rows


def _from_dataset(dataset: Any) -> list[dict[str, Any]]:
    if hasattr(dataset, "keys") and "corpus" in dataset.keys():  # DatasetDict of BEIR-on-the-hub form
        dataset = dataset["corpus"]
    return [dict(row) for row in dataset]


def _load_hub_dataset(name: str) -> list[dict[str, Any]]:
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a dependency
        raise CorpusError("the `datasets` package is needed to load a corpus by name") from exc
    try:
        loaded = datasets.load_dataset(name, "corpus")
    except Exception as exc:  # noqa: BLE001 - offline errors come in many types
        raise CorpusError(
            f"could not load the corpus {name!r} from the Hugging Face hub ({type(exc).__name__}: {exc}). "
            "Offline, pass a local BEIR folder (corpus.jsonl, queries.jsonl, qrels/) or a corpus.jsonl/.parquet "
            "file instead; online, check the dataset name."
        ) from exc
    return _from_dataset(loaded)


def read_corpus(source: Any) -> list[Document]:
    """Read and validate documents from any supported source; an empty corpus is a CorpusError.

    Args:
        source: a BEIR folder (holding ``corpus.jsonl``), a ``.jsonl`` or ``.parquet`` file, a
            ``datasets.Dataset``/``DatasetDict``, a hub dataset name (online only), or an iterable of
            mappings/``Document``s.

    Returns:
        The validated documents, in order.

    Example:
        >>> read_corpus([{"_id": "a", "title": "", "text": "hello"}])[0].text
        'hello'
    """
    docs = _read(source)
    if not docs:
        where = source if isinstance(source, (str, Path)) else f"the {type(source).__name__} given"
        raise CorpusError(f"{where}: the corpus holds no documents; there is nothing to index")
    return docs


def _read(source: Any) -> list[Document]:
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            candidates = [path / "corpus.jsonl", path / "corpus.parquet"]
            found = next((c for c in candidates if c.exists()), None)
            if found is None:
                raise CorpusError(f"{path} is a folder without corpus.jsonl or corpus.parquet (BEIR layout expected)")
            path = found
        if path.exists():
            if path.suffix == ".parquet":
                import pyarrow.parquet as pq

                return validate_documents(pq.read_table(path).to_pylist())
            return validate_documents(read_jsonl(path))
        if isinstance(source, str) and "/" in source and not source.startswith((".", "/")):
            return validate_documents(_load_hub_dataset(source))
        raise CorpusError(f"corpus not found: {source} (give a BEIR folder, a .jsonl/.parquet file or a hub name)")
    if hasattr(source, "column_names") or (hasattr(source, "keys") and hasattr(source, "map")):
        return validate_documents(_from_dataset(source))
    if isinstance(source, Iterable):
        return validate_documents(source)
    raise CorpusError(f"cannot read a corpus from {type(source).__name__}")
