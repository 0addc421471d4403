"""The document record and its validation."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from indexes.errors import CorpusError

__all__ = ["Document", "validate_documents"]

_MAX_LISTED = 10


@dataclass(frozen=True)
class Document:
    """One passage: an id, its text, an optional title and JSON-serialisable metadata.

    Example:
        >>> Document("d1", "FAISS searches vectors.", title="FAISS").doc_id
        'd1'
    """

    doc_id: str
    text: str
    title: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)


def _not_unicode(**fields: str) -> str | None:
    """Which field cannot be stored as UTF-8 (a lone surrogate, from non-UTF-8 input), else None."""
    for name, value in fields.items():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            where = f"a lone surrogate {value[exc.start]!r} at position {exc.start}"
            return f"{name} holds {where}: the input was not UTF-8"
    return None


def _as_document(record: Any) -> Document:
    if isinstance(record, Document):
        return record
    if not isinstance(record, Mapping):
        raise TypeError(f"expected a mapping or Document, got {type(record).__name__}")
    doc_id = record.get("doc_id", record.get("_id", record.get("id")))
    known = {"doc_id", "_id", "id", "text", "title", "metadata"}
    metadata = dict(record.get("metadata") or {})
    metadata.update({k: v for k, v in record.items() if k not in known})
    return Document(doc_id=doc_id, text=record.get("text"), title=record.get("title") or "", metadata=metadata)


def validate_documents(records: Iterable[Any], existing_ids: Iterable[str] = ()) -> list[Document]:
    """Turn records into Documents, or raise one CorpusError that lists every offending record.

    Records are Documents or mappings with an id (`doc_id`, `_id` or `id`), `text`, optional `title`
    and `metadata`; other keys are kept as metadata. Integer ids are accepted and turned into strings.

    Example:
        >>> [d.doc_id for d in validate_documents([{"_id": 7, "text": "x"}])]
        ['7']
    """
    seen = set(existing_ids)
    problems: list[str] = []
    out: list[Document] = []
    for position, record in enumerate(records):
        try:
            doc = _as_document(record)
        except TypeError as exc:
            problems.append(f"record {position}: {exc}")
            continue
        doc_id = doc.doc_id
        if isinstance(doc_id, int) and not isinstance(doc_id, bool):
            doc_id = str(doc_id)
        where = f"record {position} (id {doc_id!r})"
        if not isinstance(doc_id, str) or not doc_id.strip():
            problems.append(f"{where}: id must be a non-empty string")
            continue
        if doc_id in seen:
            problems.append(f"{where}: duplicate id")
            continue
        if not isinstance(doc.text, str):
            problems.append(f"{where}: text must be a string, got {type(doc.text).__name__}")
            continue
        if not doc.text.strip():
            problems.append(f"{where}: empty text")
            continue
        if not isinstance(doc.title, str):
            problems.append(f"{where}: title must be a string, got {type(doc.title).__name__}")
            continue
        unencodable = _not_unicode(id=doc_id, text=doc.text, title=doc.title)
        if unencodable:
            problems.append(f"{where}: {unencodable}")
            continue
        try:
            json.dumps(dict(doc.metadata))
        except (TypeError, ValueError) as exc:
            problems.append(f"{where}: metadata is not JSON-serialisable ({exc})")
            continue
        seen.add(doc_id)
        out.append(Document(doc_id, doc.text, doc.title, dict(doc.metadata)))
    if problems:
        listed = "\n  ".join(problems[:_MAX_LISTED])
        more = f"\n  ... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
        raise CorpusError(
            f"{len(problems)} document(s) cannot be indexed; fix or drop them and try again:\n  {listed}{more}"
        )
    return out
