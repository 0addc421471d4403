"""TREC and BEIR text formats: topics, qrels (TREC and BEIR TSV) and run files."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = ["read_beir_qrels", "read_queries_jsonl", "read_run", "read_trec_qrels", "read_trec_topics", "write_run"]

Qrels = dict[str, dict[str, int]]


def _numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """The non-blank lines of a UTF-8 text file with their line numbers (counted from 1, blank lines included)."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def _int_grade(value: str, path: Path, number: int) -> int:
    try:
        return int(float(value))
    except ValueError:
        raise ValueError(f"{path}:{number}: relevance {value!r} is not a number") from None


def read_trec_qrels(path: str | Path) -> Qrels:
    """TREC qrels: ``qid iteration docid relevance`` per line, whitespace separated.

    Example:
        >>> import tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "q.txt"); _ = open(f, "w").write("1 0 d1 2\\n")
        >>> read_trec_qrels(f)
        {'1': {'d1': 2}}
    """
    path = Path(path)
    qrels: Qrels = {}
    for number, line in _numbered_lines(path):
        parts = line.split()
        if len(parts) != 4:
            raise ValueError(f"{path}:{number}: expected 'qid iteration docid relevance', got {line.strip()!r}")
        qrels.setdefault(parts[0], {})[parts[2]] = _int_grade(parts[3], path, number)
    return qrels


def read_beir_qrels(path: str | Path) -> Qrels:
    """BEIR qrels: a TSV with the header ``query-id corpus-id score``."""
    path = Path(path)
    qrels: Qrels = {}
    with open(path, encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t")
        for number, row in enumerate(rows, start=1):
            if not row or (number == 1 and row[-1].strip().lower() == "score"):
                continue
            if len(row) != 3:
                raise ValueError(f"{path}:{number}: expected 'query-id<TAB>corpus-id<TAB>score', got {row}")
            qrels.setdefault(row[0], {})[row[1]] = _int_grade(row[2], path, number)
    return qrels


def read_trec_topics(path: str | Path) -> dict[str, str]:
    """Topics as ``qid<TAB>text`` per line (the MS MARCO / TREC DL layout)."""
    path = Path(path)
    topics = {}
    for number, line in _numbered_lines(path):
        qid, sep, text = line.rstrip("\n").partition("\t")
        if not sep:
            raise ValueError(f"{path}:{number}: expected 'qid<TAB>text', got {line.strip()!r}")
        topics[qid.strip()] = text.strip()
    return topics


def read_queries_jsonl(path: str | Path) -> dict[str, str]:
    """BEIR queries.jsonl: one ``{"_id": ..., "text": ...}`` per line."""
    path = Path(path)
    queries = {}
    for number, line in _numbered_lines(path):
        try:
            row = json.loads(line)
            queries[str(row["_id"])] = row["text"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a query record with _id and text ({exc})") from exc
    return queries


def write_run(run: Mapping[str, Mapping[str, float]], path: str | Path, tag: str) -> Path:
    """Write a run in TREC format (``qid Q0 docid rank score tag``), best first per query.

    Ties are ordered by doc id, descending, as trec_eval breaks them.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tag = tag.replace(" ", "_") or "run"
    with open(path, "w", encoding="utf-8") as handle:
        for qid in sorted(run):
            ranked = sorted(run[qid].items(), key=lambda item: (item[1], item[0]), reverse=True)
            for rank, (doc_id, score) in enumerate(ranked, start=1):
                handle.write(f"{qid} Q0 {doc_id} {rank} {float(score)!r} {tag}\n")
    return path


def read_run(path: str | Path) -> dict[str, dict[str, float]]:
    """Read a TREC run file back into ``{qid: {docid: score}}``."""
    path = Path(path)
    run: dict[str, dict[str, float]] = {}
    for number, line in _numbered_lines(path):
        parts = line.split()
        if len(parts) != 6:
            raise ValueError(f"{path}:{number}: expected 'qid Q0 docid rank score tag', got {line.strip()!r}")
        run.setdefault(parts[0], {})[parts[2]] = float(parts[4])
    return run
