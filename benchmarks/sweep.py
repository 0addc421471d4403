"""The candidate-depth sweep: how much quality each rerank depth buys, and what it costs.

`depth_sweep` turns one reranking pass at the largest depth into a tidy table, one row per
depth (quality over every judged query; latency over a sample of queries, one query at a time).
`run_sweep` does the whole thing from a `Searcher` and a reranker, for notebooks:

    >>> rows = run_sweep(searcher, reranker, queries, qrels, depths=(10, 20, 50))  # doctest: +SKIP
    >>> plot_tradeoff(rows, "tradeoff.png")                                        # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from benchmarks.latency import Latency, sample_ids, time_calls
from benchmarks.metrics import evaluate
from benchmarks.stages import dense_candidates, hits_to_run, rerank_scores, reranked_run
from retrieval.types import Hit

__all__ = ["SWEEP_METRICS", "depth_sweep", "measure_sweep", "rerank_latency", "run_sweep", "stage1_latency"]

SWEEP_METRICS = ("ndcg@10", "mrr@10")


def stage1_latency(searcher: Any, texts: Sequence[str], depth: int) -> list[float]:
    """Seconds per single-query stage-1 search (encode the query, search FAISS, fetch `depth` hits)."""
    return time_calls(lambda text: searcher.query(text, k=depth), list(texts))


def rerank_latency(
    reranker: Any, queries: Sequence[str], candidates: Sequence[Sequence[Hit]], depth: int, show_progress: bool = False
) -> list[float]:
    """Seconds per single-query rerank of the top `depth` candidates."""
    from tqdm.auto import tqdm

    items = list(zip(queries, candidates))
    bar = tqdm(total=len(items), desc=f"latency @{depth}", unit="query", disable=not show_progress, leave=False)

    def one(item: tuple[str, Sequence[Hit]]) -> None:
        reranker.score([item[0]], [list(item[1][:depth])])
        bar.update(1)

    try:
        return time_calls(one, items, warmup=1)
    finally:
        bar.close()


def depth_sweep(
    qrels: Mapping[str, Mapping[str, int]],
    candidates: Mapping[str, Sequence[Hit]],
    scores: Mapping[str, np.ndarray],
    depths: Sequence[int],
    metrics: Sequence[str] = SWEEP_METRICS,
    relevance_level: int = 1,
    stage1_seconds: Sequence[float] | None = None,
    rerank_seconds: Mapping[int, Sequence[float]] | None = None,
) -> list[dict[str, Any]]:
    """One row per depth: quality of reranking the top `depth`, its ceiling, and latency.

    Args:
        qrels: the judgements.
        candidates: stage-1 hits per query, at least ``max(depths)`` deep where the corpus allows.
        scores: reranker scores of each query's top ``max(depths)`` candidates.
        depths: the candidate depths to report.
        metrics: quality metrics of the reranked lists.
        relevance_level: lowest grade binary metrics count relevant.
        stage1_seconds: per-query stage-1 seconds on the latency sample (optional).
        rerank_seconds: ``{depth: per-query rerank seconds}`` on the same sample (optional).

    Returns:
        Rows ``{"stage", "depth", <metric>..., "ceiling_recall", "stage1_p50_ms", "rerank_p50_ms",
        "p50_ms", "p95_ms", "qps", "latency_queries"}``; latency fields are None when not timed.

    Example:
        >>> hits = {"q": [Hit("a", 0.9, 1), Hit("b", 0.8, 2)]}
        >>> rows = depth_sweep({"q": {"b": 1}}, hits, {"q": np.array([0.1, 0.7])}, [1, 2])
        >>> [(r["depth"], r["mrr@10"], r["ceiling_recall"]) for r in rows]
        [(1, 0.5, 0.0), (2, 1.0, 1.0)]
    """
    stage1_run = hits_to_run(candidates)
    rows = []
    for depth in sorted(set(depths)):
        run = reranked_run(candidates, scores, depth)
        row: dict[str, Any] = {"stage": "dense+rerank", "depth": depth}
        row.update(evaluate(qrels, run, metrics, relevance_level))
        row["ceiling_recall"] = evaluate(qrels, stage1_run, [f"recall@{depth}"], relevance_level)[f"recall@{depth}"]
        row.update(_latency_fields(stage1_seconds, (rerank_seconds or {}).get(depth)))
        rows.append(row)
    return rows


def _latency_fields(stage1: Sequence[float] | None, rerank: Sequence[float] | None) -> dict[str, Any]:
    empty = {"stage1_p50_ms": None, "rerank_p50_ms": None, "p50_ms": None, "p95_ms": None, "qps": None}
    if not stage1 or not rerank:
        return {**empty, "latency_queries": 0}
    total = Latency.from_seconds(np.asarray(stage1) + np.asarray(rerank))
    return {
        "stage1_p50_ms": Latency.from_seconds(stage1).p50_ms,
        "rerank_p50_ms": Latency.from_seconds(rerank).p50_ms,
        "p50_ms": total.p50_ms,
        "p95_ms": total.p95_ms,
        "qps": total.qps,
        "latency_queries": total.n,
    }


def run_sweep(
    searcher: Any,
    reranker: Any,
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    depths: Sequence[int] = (10, 20, 50, 100),
    metrics: Sequence[str] = SWEEP_METRICS,
    relevance_level: int = 1,
    latency_queries: int = 16,
    seed: int = 0,
    show_progress: bool = True,
) -> list[dict[str, Any]]:
    """Search, rerank once at the largest depth, time a sample, and tabulate every depth.

    Args:
        searcher: a `retrieval.Searcher` (stage 1; its own reranker, if any, is not used).
        reranker: a `retrieval.Reranker`.
        queries, qrels: the judged queries and their judgements.
        latency_queries: how many queries (seeded sample) to time, one at a time, per depth.
    """
    judged = {q: queries[q] for q in qrels if q in queries}
    candidates, scores, stage1, rerank = measure_sweep(
        searcher, reranker, judged, depths, max(depths), latency_queries, seed, show_progress
    )
    return depth_sweep(qrels, candidates, scores, depths, metrics, relevance_level, stage1, rerank)


def measure_sweep(
    searcher: Any,
    reranker: Any,
    judged: Mapping[str, str],
    depths: Sequence[int],
    retrieval_depth: int,
    latency_queries: int = 16,
    seed: int = 0,
    show_progress: bool = True,
) -> tuple[dict[str, list[Hit]], dict[str, np.ndarray], list[float], dict[int, list[float]]]:
    """What a sweep is computed from: candidates, reranker scores at ``max(depths)``, per-query timings.

    Args:
        judged: ``{qid: text}`` of the judged queries.
        retrieval_depth: how deep stage 1 retrieves (at least ``max(depths)``).
        latency_queries: how many queries (seeded sample) to time, one at a time, per depth.

    Returns:
        ``(candidates, scores, stage1_seconds, {depth: rerank_seconds})``.
    """
    top = max(depths)
    candidates = dense_candidates(searcher, judged, retrieval_depth, show_progress=show_progress)
    scores = rerank_scores(reranker, judged, candidates, top, show_progress=show_progress)
    sample = sample_ids(list(judged), latency_queries, seed)
    texts = [judged[q] for q in sample]
    stage1 = stage1_latency(searcher, texts, top)
    rerank = {d: rerank_latency(reranker, texts, [candidates[q] for q in sample], d, show_progress) for d in depths}
    return candidates, scores, stage1, rerank
