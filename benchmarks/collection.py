"""A test collection: the `Dataset` value type, reading a BEIR folder, and sampling its queries.

A BEIR folder holds ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``. `load_beir`
reads one into a `Dataset`; `judged_query_texts` reads only the judged queries' texts, in the order
of ``queries.jsonl``, for scripts that time queries and need no corpus.

Example:
    >>> ds = Dataset("toy", [Document("d1", "x")], {"q": "x?"}, {"q": {"d1": 1}})
    >>> sample_queries(ds, 1).describe()
    'toy (test): 1 documents, 1 queries, 1 judgements'
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from benchmarks.trec import read_beir_qrels, read_queries_jsonl
from indexes import Document, read_corpus

__all__ = ["Dataset", "DatasetNotFoundError", "judged_query_texts", "load_beir", "sample_corpus", "sample_queries"]


class DatasetNotFoundError(FileNotFoundError):
    """No local copy of a dataset and no way to download it."""


@dataclass(frozen=True)
class Dataset:
    """A test collection: documents, the evaluated queries, their judgements.

    `queries` holds only the queries judged in `qrels` (the ones every metric averages over).
    `relevance_level` is the lowest grade binary metrics count as relevant (2 for TREC DL's
    graded qrels). `train_queries`/`train_qrels` are the collection's training split, if any:
    for training from scratch, never for scoring.

    Example:
        >>> ds = Dataset("toy", [Document("d1", "x")], {"q": "x?"}, {"q": {"d1": 1}})
        >>> ds.describe()
        'toy (test): 1 documents, 1 queries, 1 judgements'
    """

    name: str
    corpus: Sequence[Document]
    queries: Mapping[str, str]
    qrels: Mapping[str, Mapping[str, int]]
    split: str = "test"
    source: str = ""
    relevance_level: int = 1
    notes: tuple[str, ...] = ()
    train_queries: Mapping[str, str] | None = field(default=None, repr=False)
    train_qrels: Mapping[str, Mapping[str, int]] | None = field(default=None, repr=False)

    def describe(self) -> str:
        judgements = sum(len(v) for v in self.qrels.values())
        return (
            f"{self.name} ({self.split}): {len(self.corpus):,} documents, {len(self.queries):,} queries, "
            f"{judgements:,} judgements"
        )


def _judged(queries: Mapping[str, str], qrels: Mapping[str, Mapping[str, int]], where: str) -> dict[str, str]:
    missing = sorted(q for q in qrels if q not in queries)
    if missing:
        raise ValueError(f"{where}: {len(missing)} judged queries have no text (e.g. {missing[:3]})")
    return {qid: queries[qid] for qid in qrels}


def sample_queries(dataset: Dataset, max_queries: int | None, seed: int = 0) -> Dataset:
    """Keep a seeded random sample of at most `max_queries` queries (and their qrels)."""
    if max_queries is None or max_queries >= len(dataset.queries):
        return dataset
    if max_queries < 1:
        raise ValueError(f"max_queries must be positive, got {max_queries}")
    keep = sorted(random.Random(seed).sample(sorted(dataset.queries), max_queries))
    note = f"{max_queries:,} of {len(dataset.queries):,} judged queries, sampled with seed {seed}"
    return replace(
        dataset,
        queries={q: dataset.queries[q] for q in keep},
        qrels={q: dataset.qrels[q] for q in keep},
        notes=(*dataset.notes, note),
    )


def sample_corpus(dataset: Dataset, max_docs: int | None, seed: int = 0) -> Dataset:
    """Keep every document judged for the dataset's queries plus a seeded sample of the rest, `max_docs` in all.

    For quick runs on a smaller corpus: the scores are higher than on the whole corpus (fewer
    distractors), so they compare configurations, not published figures.

    Example:
        >>> ds = Dataset("toy", [Document("d1", "x"), Document("d2", "y"), Document("d3", "z")], {"q": "x?"}, {"q": {"d1": 1}})
        >>> [d.doc_id for d in sample_corpus(ds, 2, seed=0).corpus][0]
        'd1'
    """
    if max_docs is None or max_docs >= len(dataset.corpus):
        return dataset
    judged = {d for rels in dataset.qrels.values() for d in rels}
    kept = [d for d in dataset.corpus if d.doc_id in judged]
    if max_docs < len(kept):
        raise ValueError(f"max_docs={max_docs} is fewer than the {len(kept)} judged documents; raise it or sample fewer queries")
    rest = [i for i, d in enumerate(dataset.corpus) if d.doc_id not in judged]
    extra = set(random.Random(seed).sample(rest, max_docs - len(kept)))
    corpus = [d for i, d in enumerate(dataset.corpus) if d.doc_id in judged or i in extra]
    note = f"{len(corpus):,} of {len(dataset.corpus):,} documents (every judged one), sampled with seed {seed}"
    return replace(dataset, corpus=corpus, notes=(*dataset.notes, note))


def load_beir(folder: str | Path, split: str = "test", name: str | None = None, relevance_level: int = 1) -> Dataset:
    """Read a BEIR folder: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``.

    The training split (``qrels/train.tsv``), when there is one and `split` is not it, is read too.
    """
    folder = Path(folder)
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.exists():
        present = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        raise DatasetNotFoundError(
            f"{folder} has no qrels/{split}.tsv (splits present: {present or 'none'}); pass --split"
        )
    for required in ("queries.jsonl",):
        if not (folder / required).exists():
            raise DatasetNotFoundError(f"{folder} has no {required} (BEIR layout: corpus.jsonl, queries.jsonl, qrels/)")
    queries = read_queries_jsonl(folder / "queries.jsonl")
    qrels = read_beir_qrels(qrels_path)
    train_queries = train_qrels = None
    train_path = folder / "qrels" / "train.tsv"
    if split != "train" and train_path.exists():
        train_qrels = read_beir_qrels(train_path)
        train_queries = _judged(queries, train_qrels, str(train_path))
    return Dataset(
        name=name or folder.name,
        corpus=read_corpus(folder),
        queries=_judged(queries, qrels, str(qrels_path)),
        qrels=qrels,
        split=split,
        source=str(folder),
        relevance_level=relevance_level,
        train_queries=train_queries,
        train_qrels=train_qrels,
    )


def judged_query_texts(folder: str | Path, split: str = "test") -> dict[str, str]:
    """``{qid: text}`` of the queries judged in ``qrels/<split>.tsv``, in the order of ``queries.jsonl``."""
    folder = Path(folder)
    judged = read_beir_qrels(folder / "qrels" / f"{split}.tsv")
    return {qid: text for qid, text in read_queries_jsonl(folder / "queries.jsonl").items() if qid in judged}
