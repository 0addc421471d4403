"""The stages a benchmark scores, as runs ``{qid: {doc_id: score}}``.

- ``dense``: stage 1 alone (the bi-encoder over FAISS), `dense_candidates` + `hits_to_run`;
- ``dense+rerank``: the cross-encoder over stage 1's top candidates, `rerank_scores` + `reranked_run`;
- ``hybrid``: BM25 and dense fused with ranx, `fuse_runs`;
- ``bm25``: `benchmarks.bm25.BM25Retriever`.

The reranker scores the top candidates of stage 1 once, at the largest depth needed; every
smaller depth reorders a prefix of the same list with the same scores (a cross-encoder scores
each pair alone), so a depth sweep costs one reranking pass. Only what stage 1 returned is
reranked: no judged document is ever added to the candidates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from retrieval.types import Hit, Reranker

__all__ = [
    "CountingReranker",
    "dense_candidates",
    "fuse_runs",
    "hits_to_run",
    "in_order",
    "rerank_scores",
    "reranked_run",
]

Run = dict[str, dict[str, float]]


def in_order(ranked: Sequence[tuple[str, float]]) -> dict[str, float]:
    """A query's run from a ranked list, with tied scores nudged so the list's own order is kept.

    ranx orders documents by score and breaks ties arbitrarily; trec_eval by document id. Tied
    scores (float32 probabilities that saturate, equal BM25 scores) are lowered by the smallest
    float64 steps so every tool reads the order the retriever or reranker produced.

    Example:
        >>> run = in_order([("b", 1.0), ("a", 1.0), ("c", 0.5)])
        >>> sorted(run, key=run.get, reverse=True), run["c"]
        (['b', 'a', 'c'], 0.5)
    """
    out: dict[str, float] = {}
    previous = np.inf
    for doc_id, score in ranked:
        score = float(score)
        if score >= previous:
            score = float(np.nextafter(previous, -np.inf))
        out[doc_id] = previous = score
    return out


def dense_candidates(
    searcher: Any, queries: Mapping[str, str], depth: int, batch_size: int = 64, show_progress: bool = True
) -> dict[str, list[Hit]]:
    """Stage-1 hits of every query, `depth` deep (fewer when the corpus is smaller).

    Args:
        searcher: a `retrieval.Searcher` without a reranker.
        queries: ``{qid: text}``.
    """
    from tqdm.auto import tqdm

    qids = list(queries)
    depth = min(depth, len(searcher.index))
    out: dict[str, list[Hit]] = {}
    with tqdm(total=len(qids), desc="dense search", unit="query", disable=not show_progress) as bar:
        for start in range(0, len(qids), batch_size):
            chunk = qids[start : start + batch_size]
            for qid, hits in zip(chunk, searcher.query_batch([queries[q] for q in chunk], k=depth)):
                out[qid] = hits
            bar.update(len(chunk))
    return out


def hits_to_run(candidates: Mapping[str, Sequence[Hit]], depth: int | None = None) -> Run:
    """Stage-1 hits as a run (each query's top `depth`, all by default), scored by stage-1 score."""
    return {qid: in_order([(h.doc_id, h.score) for h in hits[:depth]]) for qid, hits in candidates.items()}


class CountingReranker:
    """A `Reranker` wrapper that counts pairs and truncated pairs, silencing per-call truncation notices.

    `rerank.cross_encoder` logs a warning on every call that truncates; a benchmark calls it once
    per query, so the wrapper mutes that logger during calls and sums ``last_stats.truncated``.

    Example:
        >>> class Fake:
        ...     threshold = None
        ...     def score(self, queries, candidates):
        ...         return [np.zeros(len(c)) for c in candidates]
        >>> counting = CountingReranker(Fake())
        >>> _ = counting.score(["q"], [[Hit("a", 1.0, 1)]])
        >>> counting.pairs, counting.truncated
        (1, 0)
    """

    def __init__(self, reranker: Reranker, logger: str = "rerank.cross_encoder") -> None:
        self.reranker = reranker
        self.threshold = getattr(reranker, "threshold", None)
        self.pairs = 0
        self.truncated = 0
        self._logger = logger

    def score(self, queries: Sequence[str], candidates: Sequence[Sequence[Hit]]) -> list[np.ndarray]:
        import logging

        log = logging.getLogger(self._logger)
        level = log.level
        log.setLevel(logging.ERROR)
        try:
            out = self.reranker.score(queries, candidates)
        finally:
            log.setLevel(level)
        self.pairs += sum(len(c) for c in candidates)
        self.truncated += int(getattr(getattr(self.reranker, "last_stats", None), "truncated", 0) or 0)
        return out


def rerank_scores(
    reranker: Reranker,
    queries: Mapping[str, str],
    candidates: Mapping[str, Sequence[Hit]],
    depth: int,
    queries_per_call: int = 1,
    show_progress: bool = True,
) -> dict[str, np.ndarray]:
    """Reranker scores of each query's top-`depth` candidates, aligned with them."""
    from tqdm.auto import tqdm

    qids = list(queries)
    pairs = sum(min(depth, len(candidates[q])) for q in qids)
    out: dict[str, np.ndarray] = {}
    with tqdm(total=pairs, desc=f"rerank top {depth}", unit="pair", disable=not show_progress) as bar:
        for start in range(0, len(qids), queries_per_call):
            chunk = qids[start : start + queries_per_call]
            lists = [list(candidates[q][:depth]) for q in chunk]
            scores = reranker.score([queries[q] for q in chunk], lists)
            for qid, hits, row in zip(chunk, lists, scores):
                row = np.asarray(row, dtype=np.float64).reshape(-1)
                if len(row) != len(hits):
                    raise ValueError(f"the reranker returned {len(row)} scores for {len(hits)} candidates (query {qid})")
                out[qid] = row
            bar.update(sum(len(h) for h in lists))
    return out


def reranked_run(candidates: Mapping[str, Sequence[Hit]], scores: Mapping[str, np.ndarray], depth: int) -> Run:
    """Rerank each query's top `depth` candidates; the rest of stage 1's list follows unchanged.

    The reranked documents keep the reranker's scores; the ones below `depth` get scores under
    the lowest of those, in stage-1 order, so recall beyond `depth` is stage 1's.

    Example:
        >>> hits = [Hit("a", 0.9, 1), Hit("b", 0.8, 2), Hit("c", 0.7, 3)]
        >>> list(reranked_run({"q": hits}, {"q": np.array([0.1, 0.6, 0.5])}, depth=2)["q"])
        ['b', 'a', 'c']
    """
    run: Run = {}
    for qid, hits in candidates.items():
        row = np.asarray(scores[qid], dtype=np.float64)
        if len(row) < min(depth, len(hits)):
            raise ValueError(f"query {qid}: {len(row)} rerank scores, fewer than depth {depth}")
        top = min(depth, len(hits))
        head = row[:top]
        order = np.argsort(-head, kind="stable")  # ties keep stage 1's order
        floor = (float(head.min()) if top else 0.0) - 1.0
        ranked = [(hits[i].doc_id, float(head[i])) for i in order]
        ranked += [(hit.doc_id, floor - j * 1e-6) for j, hit in enumerate(hits[top:], start=1)]
        run[qid] = in_order(ranked)
    return run


def fuse_runs(
    runs: Sequence[Mapping[str, Mapping[str, float]]],
    method: str = "rrf",
    norm: str = "min-max",
    params: Mapping[str, Any] | None = None,
) -> Run:
    """Fuse runs with ranx: ``rrf`` (k=60) by default; score methods (``wsum``, ``combsum``...) normalise with `norm`.

    ``wsum`` weighs the runs equally unless ``params={"weights": [...]}``.

    Example:
        >>> fused = fuse_runs([{"q": {"a": 3.0, "b": 2.0}}, {"q": {"b": 0.9, "c": 0.1}}])
        >>> list(fused["q"])
        ['b', 'a', 'c']
    """
    import warnings

    from ranx import Run as RRun
    from ranx import fuse

    qids = sorted(set().union(*(r.keys() for r in runs)))
    ranx_runs = [RRun({q: {d: float(s) for d, s in r.get(q, {}).items()} for q in qids}) for r in runs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params = dict(params or {})
        if method == "wsum":
            params.setdefault("weights", [1.0 / len(runs)] * len(runs))
        fused = fuse(ranx_runs, norm=None if method == "rrf" else norm, method=method, params=params or None)
    return {q: {d: float(s) for d, s in docs.items()} for q, docs in fused.to_dict().items()}
