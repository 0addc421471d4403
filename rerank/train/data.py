"""Training data for a cross-encoder: (query, passage, label) rows whose negatives are stage-1 candidates.

The reranker only ever sees what stage 1 returns, so that is what it learns to tell apart: for every
training query, its labelled-relevant documents (label 1) and documents from its stage-1 candidate
list that are not labelled relevant (label 0). Without labels, pseudo-queries come from the corpus
(a sentence or title, with its source document, the sentence removed, as the positive).
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

__all__ = [
    "CandidateList",
    "Example",
    "build_examples",
    "candidate_lists",
    "hold_out_queries",
    "pseudo_queries",
    "rescore_lists",
    "split_by_query",
    "stage1_candidates",
    "stage1_ranked",
]


@dataclass(frozen=True)
class Example:
    """One labelled (query, passage) pair; `stage1_z`, its standardised stage-1 score, for residual training.

    Example:
        >>> Example("q1", "what is faiss", "FAISS searches vectors", 1, "d1").label
        1
    """

    query_id: str
    query: str
    passage: str
    label: int
    doc_id: str
    stage1_z: float | None = None


@dataclass(frozen=True)
class CandidateList:
    """One held-out query's whole stage-1 candidate list, as the reranker will see it at search time.

    Example:
        >>> CandidateList("q1", "what is faiss", ("d1", "d2"), ("FAISS ...", "BM25 ..."), (0.9, 0.4), (1, 0)).relevant
        (1, 0)
    """

    query_id: str
    query: str
    doc_ids: tuple[str, ...]
    passages: tuple[str, ...]
    stage1_scores: tuple[float, ...]
    relevant: tuple[int, ...]


def stage1_ranked(encoder: Any, index: Any, queries: Mapping[str, str], depth: int) -> dict[str, list[tuple[str, float]]]:
    """Each query's stage-1 (doc id, score) candidates, best first (what the reranker will be given)."""
    ids = list(queries)
    out: dict[str, list[tuple[str, float]]] = {}
    for start in range(0, len(ids), 512):
        chunk = ids[start : start + 512]
        found = index.search(encoder.encode_queries([queries[q] for q in chunk]), depth)
        out.update({q: [(doc.doc_id, float(score)) for doc, score in hits] for q, hits in zip(chunk, found)})
    return out


def stage1_candidates(encoder: Any, index: Any, queries: Mapping[str, str], depth: int) -> dict[str, list[str]]:
    """Each query's stage-1 candidate doc ids, best first."""
    return {q: [d for d, _ in hits] for q, hits in stage1_ranked(encoder, index, queries, depth).items()}


def candidate_lists(
    query_ids: Sequence[str],
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    ranked: Mapping[str, Sequence[tuple[str, float]]],
    doc_texts: Mapping[str, str],
    positive_texts: Mapping[tuple[str, str], str] | None = None,
) -> list[CandidateList]:
    """The full candidate lists of `query_ids` (for choosing the stage-1 weight on held-out queries).

    `positive_texts` replaces a document's text for one query, as `pseudo_queries` returns them (the
    pseudo-query's own sentence taken out), so the held-out lists pose the task the training rows pose.
    """
    positive_texts = positive_texts or {}
    out = []
    for qid in query_ids:
        hits = [(d, s) for d, s in ranked.get(qid, ()) if d in doc_texts]
        relevant = {d for d, rel in qrels.get(qid, {}).items() if rel > 0}
        out.append(
            CandidateList(
                qid, queries[qid], tuple(d for d, _ in hits),
                tuple(positive_texts.get((qid, d), doc_texts[d]) for d, _ in hits),
                tuple(float(s) for _, s in hits), tuple(int(d in relevant) for d, _ in hits),
            )
        )
    return out


def rescore_lists(
    lists: Sequence[CandidateList], encoder: Any, only: Collection[tuple[str, str]] | None = None
) -> list[CandidateList]:
    """The lists with stage-1 scores recomputed by `encoder` on their passages' text.

    Used for a stage 1 retrained after the lists were made, and for pseudo-queries: the index holds
    a pseudo-query's source document *with* its sentence, while the reranker is shown the document
    without it; scoring both on the same text keeps the stage-1 weight chosen on the lists honest.

    Args:
        lists: candidate lists (their documents are kept; only the scores change).
        encoder: a `retrieval.Encoder` (cosine when it normalises, else the inner product).
        only: rescore just these (query id, doc id) pairs; None rescores every passage.
    """
    import numpy as np

    def unit(v: np.ndarray) -> np.ndarray:
        return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12) if encoder.normalize else v

    where = [[i for i, d in enumerate(cl.doc_ids) if only is None or (cl.query_id, d) in only] for cl in lists]
    todo = [k for k, w in enumerate(where) if w]
    queries = unit(encoder.encode_queries([lists[k].query for k in todo])) if todo else None
    out = list(lists)
    for row, k in enumerate(todo):
        cl = lists[k]
        docs = unit(encoder.encode_documents([cl.passages[i] for i in where[k]], show_progress=False))
        scores = list(cl.stage1_scores)
        for i, s in zip(where[k], docs @ queries[row]):
            scores[i] = float(s)
        out[k] = replace(cl, stage1_scores=tuple(scores))
    return out


def pseudo_queries(
    docs: Sequence[Any],
    sentences_per_doc: int = 1,
    use_titles: bool = True,
    seed: int = 0,
    limit: int | None = None,
    exclude: Collection[str] = (),
) -> tuple[dict[str, str], dict[str, dict[str, int]], dict[tuple[str, str], str]]:
    """Queries, qrels and positive texts made from the corpus alone (no labels needed).

    `exclude` drops pseudo-queries with these texts (e.g. the anchors stage 1 trained on, whose
    stage-1 scores would look better than any new query's).

    Returns:
        ``queries`` {qid: text}, ``qrels`` {qid: {doc_id: 1}}, and ``positives`` {(qid, doc_id): text},
        the positive passage with the query sentence taken out of it (so the task is not string matching).
    """
    from retrieval.train.pairs import corpus_pairs

    excluded = set(exclude)
    pairs = [p for p in corpus_pairs(docs, sentences_per_doc, use_titles, seed=seed) if p.anchor not in excluded]
    if limit is not None and len(pairs) > limit:
        pairs = random.Random(seed).sample(pairs, limit)
    queries, qrels, positives = {}, {}, {}
    for i, p in enumerate(pairs):
        qid = f"pseudo-{i}"
        queries[qid] = p.anchor
        qrels[qid] = {p.doc_id: 1}
        positives[(qid, p.doc_id)] = p.positive
    return queries, qrels, positives


def build_examples(
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    candidates: Mapping[str, Sequence[str]],
    doc_texts: Mapping[str, str],
    negatives_per_query: int = 7,
    hard_first: bool = False,
    skip_top: int = 0,
    seed: int = 0,
    positive_texts: Mapping[tuple[str, str], str] | None = None,
) -> list[Example]:
    """Positives from qrels, negatives from each query's stage-1 candidates that are not labelled relevant.

    Example:
        >>> rows = build_examples({"q": "x"}, {"q": {"a": 1}}, {"q": ["b", "a", "c"]}, {"a": "A", "b": "B", "c": "C"}, 1, True)
        >>> [(r.doc_id, r.label) for r in rows]
        [('a', 1), ('b', 0)]
    """
    rng = random.Random(seed)
    positive_texts = positive_texts or {}
    rows: list[Example] = []
    for qid in sorted(qrels):
        if qid not in queries:
            raise ValueError(f"qrels query {qid!r} has no query text")
        relevant = {d for d, rel in qrels[qid].items() if rel > 0}
        for doc_id in sorted(relevant):
            text = positive_texts.get((qid, doc_id), doc_texts.get(doc_id))
            if text is not None:
                rows.append(Example(qid, queries[qid], text, 1, doc_id))
        pool = [d for d in list(candidates.get(qid, ()))[skip_top:] if d not in relevant and d in doc_texts]
        chosen = pool[:negatives_per_query] if hard_first else rng.sample(pool, min(negatives_per_query, len(pool)))
        rows.extend(Example(qid, queries[qid], doc_texts[d], 0, d) for d in chosen)
    return rows


def hold_out_queries(query_ids: Collection[str], fraction: float, seed: int = 0) -> set[str]:
    """A seeded share of the query ids (at least one, never all) to hold out for validation.

    Example:
        >>> sorted(hold_out_queries(["a", "b", "c", "d"], 0.25, seed=0))
        ['c']
    """
    qids = sorted(set(query_ids))
    if len(qids) < 2:
        raise ValueError("at least 2 training queries are needed to carve a validation split")
    random.Random(seed).shuffle(qids)
    n_val = min(len(qids) - 1, max(1, round(fraction * len(qids))))
    return set(qids[:n_val])


def split_by_query(
    examples: Sequence[Example], fraction: float, seed: int = 0, held: Collection[str] | None = None
) -> tuple[list[Example], list[Example]]:
    """(train, validation), whole queries held out, each side keeping positives and negatives.

    `held` names the validation queries (e.g. the ones stage 1 was not trained on); by default a
    seeded `fraction` of them (`hold_out_queries`).

    Example:
        >>> rows = [Example(f"q{i}", "q", "p", i % 2, "d") for i in range(20)]
        >>> train, val = split_by_query(rows, 0.2)
        >>> len(val) > 0 and not {r.query_id for r in train} & {r.query_id for r in val}
        True
    """
    qids = {e.query_id for e in examples}
    held = hold_out_queries(qids, fraction, seed) if held is None else set(held) & qids
    if not held or held == qids:
        raise ValueError(f"{len(held)} of {len(qids)} training queries held out: both sides need some queries")
    train = [e for e in examples if e.query_id not in held]
    val = [e for e in examples if e.query_id in held]
    labels = {e.label for e in val}
    if labels != {0, 1}:
        raise ValueError(
            f"the validation split has only label(s) {sorted(labels)}: the evaluator needs both; "
            "use more queries or a larger validation_fraction"
        )
    return train, val
