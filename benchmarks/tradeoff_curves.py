"""Trade-off curves over runs: each function reads qrels, candidates or scores and returns tidy rows.

- `recall_curve`: stage-1 recall@k against k, the ceiling of any reranker at depth k;
- `stage1_point`: stage 1 alone as a row shaped like the sweep's (its quality and latency);
- `pareto_front`: which configurations no other one beats on both quality and latency;
- `query_deltas` / `delta_summary`: per-query wins, losses and ties of one run against another;
- `cutoff_curve`: for thresholds over the reranker's scores, the share of hits kept and the
  precision of what is kept.

Example:
    >>> hits = {"q": [Hit("a", 0.9, 1), Hit("b", 0.8, 2)]}
    >>> recall_curve({"q": {"b": 1}}, hits, ks=[1, 2])
    [{'k': 1, 'recall': 0.0}, {'k': 2, 'recall': 1.0}]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from benchmarks.latency import Latency
from benchmarks.metrics import evaluate, per_query
from benchmarks.stages import hits_to_run
from benchmarks.sweep import SWEEP_METRICS
from retrieval.types import Hit

__all__ = ["cutoff_curve", "delta_summary", "pareto_front", "query_deltas", "recall_curve", "stage1_point"]

Qrels = Mapping[str, Mapping[str, int]]
RunLike = Mapping[str, Mapping[str, float]]

_RECALL_KS = (1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000)


def recall_curve(
    qrels: Qrels,
    candidates: Mapping[str, Sequence[Hit]] | RunLike,
    ks: Sequence[int] | None = None,
    relevance_level: int = 1,
) -> list[dict[str, Any]]:
    """Stage-1 recall@k for each k: the best any reranker of the top k can reach.

    Args:
        qrels: the judgements.
        candidates: stage-1 hits per query (or a run ``{qid: {doc_id: score}}``).
        ks: cut-offs; default 1, 2, 3, 5, 10, 20, 30, 50, 100... up to the deepest list.

    Returns:
        ``[{"k", "recall"}]`` in increasing k.
    """
    run = _as_run(candidates)
    deepest = max((len(v) for v in run.values()), default=0)
    if ks is None:
        ks = [k for k in _RECALL_KS if k < deepest] + ([deepest] if deepest else [])
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be positive integers, got {ks}")
    scores = evaluate(qrels, run, [f"recall@{k}" for k in ks], relevance_level)
    return [{"k": k, "recall": scores[f"recall@{k}"]} for k in ks]


def stage1_point(
    qrels: Qrels,
    candidates: Mapping[str, Sequence[Hit]] | RunLike,
    stage1_seconds: Sequence[float] = (),
    metrics: Sequence[str] = SWEEP_METRICS,
    relevance_level: int = 1,
) -> dict[str, Any]:
    """Stage 1 alone as a row shaped like a sweep row (``stage`` "dense", ``depth`` 0, no rerank time).

    Example:
        >>> row = stage1_point({"q": {"b": 1}}, {"q": [Hit("a", 0.9, 1), Hit("b", 0.8, 2)]}, [0.002, 0.004])
        >>> row["stage"], row["mrr@10"], row["p50_ms"], row["rerank_p50_ms"]
        ('dense', 0.5, 3.0, 0.0)
    """
    row: dict[str, Any] = {"stage": "dense", "depth": 0}
    row.update(evaluate(qrels, _as_run(candidates), metrics, relevance_level))
    if len(stage1_seconds):
        timed = Latency.from_seconds(stage1_seconds)
        row.update(
            stage1_p50_ms=timed.p50_ms, rerank_p50_ms=0.0, p50_ms=timed.p50_ms, p95_ms=timed.p95_ms, qps=timed.qps,
            latency_queries=timed.n,
        )
    else:
        row.update(stage1_p50_ms=None, rerank_p50_ms=None, p50_ms=None, p95_ms=None, qps=None, latency_queries=0)
    return row


def pareto_front(
    rows: Sequence[Mapping[str, Any]], quality: str = "ndcg@10", cost: str = "p50_ms"
) -> list[dict[str, Any]]:
    """Mark the configurations no other one beats: as good or better on both axes, strictly on one.

    Args:
        rows: sweep rows (and e.g. `stage1_point`); rows without `quality` or `cost` are left out.
        quality: higher is better.
        cost: lower is better.

    Returns:
        Copies of the rows, by increasing cost (then decreasing quality), each with ``"pareto"``.

    Example:
        >>> rows = [{"depth": 10, "q": 0.5, "ms": 1}, {"depth": 20, "q": 0.4, "ms": 2}, {"depth": 50, "q": 0.6, "ms": 5}]
        >>> [(r["depth"], r["pareto"]) for r in pareto_front(rows, "q", "ms")]
        [(10, True), (20, False), (50, True)]
    """
    usable = [dict(r) for r in rows if _number(r.get(quality)) and _number(r.get(cost))]
    usable.sort(key=lambda r: (r[cost], -r[quality]))
    for row in usable:
        row["pareto"] = not any(
            o[cost] <= row[cost] and o[quality] >= row[quality] and (o[cost] < row[cost] or o[quality] > row[quality])
            for o in usable
        )
    return usable


def query_deltas(
    qrels: Qrels,
    baseline: RunLike,
    system: RunLike,
    metric: str = "ndcg@10",
    relevance_level: int = 1,
    tolerance: float = 1e-9,
) -> list[dict[str, Any]]:
    """Per query: the metric of `baseline` and of `system`, their difference, and who won.

    Args:
        qrels: the judgements (every judged query gets a row; a run that misses it scores 0).
        baseline, system: the two runs (e.g. dense alone, and dense + rerank).
        metric: the per-query metric (`benchmarks.metrics.per_query`).
        tolerance: differences within it are ties.

    Returns:
        ``[{"qid", "baseline", "system", "delta", "outcome"}]`` with ``delta = system - baseline`` and
        ``outcome`` "win" (system better), "loss" or "tie", by decreasing delta (ties by query id).

    Example:
        >>> qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
        >>> base, sys_ = {"q1": {"x": 2, "a": 1}, "q2": {"b": 1}}, {"q1": {"a": 2, "x": 1}, "q2": {"b": 1}}
        >>> [(r["qid"], r["delta"], r["outcome"]) for r in query_deltas(qrels, base, sys_, "mrr@10")]
        [('q1', 0.5, 'win'), ('q2', 0.0, 'tie')]
    """
    a = per_query(qrels, baseline, [metric], relevance_level)[metric]
    b = per_query(qrels, system, [metric], relevance_level)[metric]
    rows = []
    for qid in a:
        delta = b[qid] - a[qid]
        outcome = "tie" if abs(delta) <= tolerance else "win" if delta > 0 else "loss"
        rows.append({"qid": qid, "baseline": a[qid], "system": b[qid], "delta": 0.0 if outcome == "tie" else delta, "outcome": outcome})
    rows.sort(key=lambda r: (-r["delta"], r["qid"]))
    return rows


def delta_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts of wins, losses and ties of `query_deltas` rows, and the mean and extremes of the deltas.

    Example:
        >>> delta_summary([{"delta": 0.5, "outcome": "win"}, {"delta": 0.0, "outcome": "tie"}])
        {'queries': 2, 'wins': 1, 'losses': 0, 'ties': 1, 'mean_delta': 0.25, 'max_gain': 0.5, 'max_loss': 0.0}
    """
    deltas = [float(r["delta"]) for r in rows]
    outcomes = [r["outcome"] for r in rows]
    return {
        "queries": len(rows),
        "wins": outcomes.count("win"),
        "losses": outcomes.count("loss"),
        "ties": outcomes.count("tie"),
        "mean_delta": float(np.mean(deltas)) if deltas else 0.0,
        "max_gain": max([d for d in deltas if d > 0], default=0.0),
        "max_loss": min([d for d in deltas if d < 0], default=0.0),
    }


def cutoff_curve(
    qrels: Qrels,
    candidates: Mapping[str, Sequence[Hit]],
    scores: Mapping[str, np.ndarray],
    k: int = 10,
    thresholds: Sequence[float] | None = None,
    relevance_level: int = 1,
    steps: int = 20,
) -> list[dict[str, Any]]:
    """What a score cut-off does to the reranked top `k`: hits kept against precision of what is kept.

    Each judged query's scored candidates are ranked by the reranker's score and cut at `k` (the
    hits a user would see); a threshold then drops every hit scoring below it (as
    ``Searcher.query(min_score=...)`` does).

    Args:
        qrels: the judgements; a hit is relevant when its grade is at least `relevance_level`.
        candidates: stage-1 hits per query.
        scores: reranker scores of each query's top candidates, aligned with them (a probability
            for a calibrated cross-encoder); only scored candidates are ranked.
        k: hits shown per query before the cut.
        thresholds: the cut-offs; default the 0, 1/steps, ... 1 quantiles of the scores of the shown hits.

    Returns:
        One row per threshold, increasing: ``threshold``, ``queries``, ``hits`` (shown before the cut), ``kept``,
        ``kept_fraction``, ``relevant`` (relevant hits shown), ``relevant_kept``,
        ``relevant_kept_fraction``, ``precision`` (relevant share of the kept hits; None when none
        is kept) and ``empty_queries`` (queries left with no hit).

    Example:
        >>> hits = {"q": [Hit("a", 0.9, 1), Hit("b", 0.8, 2)]}
        >>> rows = cutoff_curve({"q": {"b": 1}}, hits, {"q": np.array([0.2, 0.7])}, thresholds=[0.5])
        >>> rows[0]["kept"], rows[0]["precision"], rows[0]["relevant_kept_fraction"]
        (1, 1.0, 1.0)
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    shown_scores: list[np.ndarray] = []
    shown_relevant: list[np.ndarray] = []
    for qid, judged in qrels.items():
        row = np.asarray(scores.get(qid, ()), dtype=np.float64).reshape(-1)
        hits = list(candidates.get(qid, ()))[: len(row)]
        if len(hits) != len(row):
            raise ValueError(f"query {qid}: {len(row)} scores for {len(hits)} candidates")
        order = np.argsort(-row, kind="stable")[:k]
        shown_scores.append(row[order])
        shown_relevant.append(np.array([judged.get(hits[i].doc_id, 0) >= relevance_level for i in order], dtype=bool))
    pooled = np.concatenate(shown_scores) if shown_scores else np.zeros(0)
    if thresholds is None:
        if not len(pooled):
            raise ValueError("no scored hits: nothing to cut")
        thresholds = np.unique(np.quantile(pooled, np.linspace(0.0, 1.0, steps + 1)))
    relevant_total = int(sum(r.sum() for r in shown_relevant))
    out = []
    for t in sorted(float(x) for x in thresholds):
        kept = relevant_kept = empty = 0
        for s, rel in zip(shown_scores, shown_relevant):
            keep = s >= t
            kept += int(keep.sum())
            relevant_kept += int(rel[keep].sum())
            empty += int(not keep.any())
        out.append(
            {
                "threshold": t,
                "queries": len(shown_scores),
                "hits": len(pooled),
                "kept": kept,
                "kept_fraction": kept / len(pooled) if len(pooled) else 0.0,
                "relevant": relevant_total,
                "relevant_kept": relevant_kept,
                "relevant_kept_fraction": relevant_kept / relevant_total if relevant_total else 0.0,
                "precision": relevant_kept / kept if kept else None,
                "empty_queries": empty,
            }
        )
    return out


def _as_run(candidates: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    if any(isinstance(v, Mapping) for v in candidates.values()):
        return {q: {d: float(s) for d, s in docs.items()} for q, docs in candidates.items()}
    return hits_to_run(candidates)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
