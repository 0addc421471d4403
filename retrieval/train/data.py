"""Read the training side of a BEIR folder: queries and the qrels of one split (never `test`)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

__all__ = ["read_qrels", "read_queries", "read_train_split"]


def read_queries(path: str | Path) -> dict[str, str]:
    """`{query_id: text}` from a BEIR ``queries.jsonl``."""
    out = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    row = json.loads(line)
                    out[str(row["_id"])] = str(row["text"])
                except (json.JSONDecodeError, KeyError) as exc:
                    raise ValueError(f"{path}:{number}: expected a JSON object with _id and text ({exc})") from exc
    return out


def read_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """`{query_id: {doc_id: relevance}}` from a BEIR qrels TSV (header ``query-id corpus-id score``)."""
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        for number, row in enumerate(reader, start=1):
            if number == 1 and row and not row[-1].strip().lstrip("-").isdigit():
                continue  # header
            if len(row) < 3:
                raise ValueError(f"{path}:{number}: expected query-id, corpus-id, score separated by tabs")
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    return qrels


def read_train_split(
    data_dir: str | Path, split: str = "train"
) -> tuple[dict[str, str] | None, dict[str, dict[str, int]] | None]:
    """The queries and qrels of a training split, or (None, None) when the folder has no such split.

    Refuses ``test``: training on the queries a benchmark scores would leak them into the result.

    Example:
        >>> queries, qrels = read_train_split("../shared/datasets/scifact")  # doctest: +SKIP
        >>> len(qrels)  # doctest: +SKIP
        809
    """
    if split == "test":
        raise ValueError("refusing to train on the test split: its queries are the ones benchmarks score")
    data_dir = Path(data_dir)
    qrels_path = data_dir / "qrels" / f"{split}.tsv"
    if not qrels_path.exists():
        return None, None
    qrels = read_qrels(qrels_path)
    all_queries = read_queries(data_dir / "queries.jsonl")
    queries = {qid: all_queries[qid] for qid in qrels if qid in all_queries}
    return queries, qrels
