"""The stage trade-offs, as tidy tables: what stage 1 can find, what reranking buys, what it costs.

`collect_sweep` runs a depth sweep (the functions of `benchmarks.sweep` and `benchmarks.stages`,
the same ones ``python -m benchmarks.run`` calls) and keeps what the sweep was computed from:
stage-1 candidates, reranker scores, per-query timings, as a `SweepData`. `tradeoff_tables`
computes every curve of `benchmarks.tradeoff_curves` from it (``recall_curve``, ``stage1_point``,
``pareto_front``, ``query_deltas``, ``delta_summary``, ``cutoff_curve``, importable from here too);
`describe_tradeoffs` says in words what each one shows.

Example:
    >>> hits = {"q": [Hit("a", 0.9, 1), Hit("b", 0.8, 2)]}
    >>> recall_curve({"q": {"b": 1}}, hits, ks=[1, 2])
    [{'k': 1, 'recall': 0.0}, {'k': 2, 'recall': 1.0}]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks.stages import hits_to_run, reranked_run
from benchmarks.sweep import SWEEP_METRICS, depth_sweep, measure_sweep
from benchmarks.tradeoff_curves import (
    Qrels,
    cutoff_curve,
    delta_summary,
    pareto_front,
    query_deltas,
    recall_curve,
    stage1_point,
)
from retrieval.sentence_reranker import with_sentence_scores
from retrieval.types import Hit

__all__ = [
    "SweepData",
    "collect_sweep",
    "cutoff_curve",
    "delta_summary",
    "describe_tradeoffs",
    "pareto_front",
    "query_deltas",
    "recall_curve",
    "stage1_point",
    "tradeoff_tables",
]


@dataclass(frozen=True)
class SweepData:
    """A depth sweep and what it was computed from.

    Attributes:
        qrels: the judgements the sweep was scored on.
        candidates: stage-1 hits per query (at least as deep as the largest sweep depth).
        scores: reranker scores of each query's top ``max(depths)`` candidates, aligned with them.
        rows: `benchmarks.sweep.depth_sweep` rows, one per depth.
        stage1_seconds: per-query stage-1 seconds on the latency sample.
        rerank_seconds: ``{depth: per-query rerank seconds}`` on the same sample.
        relevance_level: lowest grade binary metrics count relevant.
        threshold: the reranker's calibrated cut-off, if it has one.
    """

    qrels: Qrels
    candidates: Mapping[str, Sequence[Hit]]
    scores: Mapping[str, np.ndarray]
    rows: list[dict[str, Any]]
    stage1_seconds: Sequence[float] = ()
    rerank_seconds: Mapping[int, Sequence[float]] = field(default_factory=dict)
    relevance_level: int = 1
    threshold: float | None = None

    @property
    def depths(self) -> list[int]:
        return [int(r["depth"]) for r in self.rows]

    def dense_run(self) -> dict[str, dict[str, float]]:
        """Stage 1 alone, as deep as the candidates go."""
        return hits_to_run(self.candidates)

    def reranked_run(self, depth: int | None = None) -> dict[str, dict[str, float]]:
        """Stage 1 reranked at `depth` (default: the largest sweep depth)."""
        return reranked_run(self.candidates, self.scores, depth or max(self.depths))


def collect_sweep(
    searcher: Any,
    reranker: Any,
    queries: Mapping[str, str],
    qrels: Qrels,
    depths: Sequence[int] = (10, 20, 50, 100),
    retrieval_depth: int | None = None,
    metrics: Sequence[str] = SWEEP_METRICS,
    relevance_level: int = 1,
    latency_queries: int = 16,
    seed: int = 0,
    show_progress: bool = True,
) -> SweepData:
    """`benchmarks.sweep.run_sweep`, keeping the candidates, scores and timings for further analysis.

    Args:
        searcher: a `retrieval.Searcher` (stage 1; its own reranker, if any, is not used).
        reranker: a `retrieval.Reranker`.
        queries, qrels: the judged queries and their judgements (unjudged queries are skipped).
        depths: the candidate depths of the sweep; the reranker scores ``max(depths)`` once.
        retrieval_depth: how deep stage 1 retrieves (for the recall curve); at least ``max(depths)``.
        latency_queries: how many queries (seeded sample) are timed, one at a time, per depth.
    """
    if not depths or any(not isinstance(d, int) or d < 1 for d in depths):
        raise ValueError(f"depths must be positive integers, got {list(depths)}")
    judged = {q: queries[q] for q in qrels if q in queries}
    if not judged:
        raise ValueError("no judged query has a text: check that `queries` and `qrels` come from the same split")
    deep = max(max(depths), retrieval_depth or 0)
    reranker = with_sentence_scores(reranker, searcher.encoder)  # as the Searcher does, when it fuses them
    candidates, scores, stage1, rerank = measure_sweep(
        searcher, reranker, judged, depths, deep, latency_queries, seed, show_progress
    )
    rows = depth_sweep(qrels, candidates, scores, depths, metrics, relevance_level, stage1, rerank)
    return SweepData(
        qrels=qrels,
        candidates=candidates,
        scores=scores,
        rows=rows,
        stage1_seconds=stage1,
        rerank_seconds=rerank,
        relevance_level=relevance_level,
        threshold=getattr(reranker, "threshold", None),
    )


def tradeoff_tables(data: SweepData, depth: int | None = None, metric: str = "ndcg@10", k: int = 10) -> dict[str, Any]:
    """Every trade-off table of a sweep.

    Args:
        data: what `collect_sweep` returned.
        depth: the rerank depth compared with stage 1 per query and cut by thresholds (default:
            the largest sweep depth).
        metric: the quality metric of the Pareto front and of the per-query comparison.
        k: hits shown per query in the cut-off curve.

    Returns:
        ``{"settings", "recall_curve", "dense", "sweep", "pareto", "query_deltas", "delta_summary",
        "cutoff", "cutoff_at_threshold"}``: ``dense`` is `stage1_point`; ``cutoff_at_threshold`` the
        cut-off row at the reranker's calibrated threshold (None without one).
    """
    depth = depth or max(data.depths)
    if depth not in data.depths:
        raise ValueError(f"depth {depth} is not among the sweep's depths {data.depths}")
    level = data.relevance_level
    metrics = [m for m in data.rows[0] if "@" in m and m != "ceiling_recall"]
    if metric not in metrics:
        raise ValueError(f"the sweep did not compute {metric!r}; it has {metrics}")
    dense = stage1_point(data.qrels, data.candidates, data.stage1_seconds, metrics, level)
    deltas = query_deltas(data.qrels, data.dense_run(), data.reranked_run(depth), metric, level)
    scores = {q: s[:depth] for q, s in data.scores.items()}
    at = None
    if data.threshold is not None:
        at = cutoff_curve(data.qrels, data.candidates, scores, k, [data.threshold], level)[0]
    return {
        "settings": {"depth": depth, "metric": metric, "k": k, "threshold": data.threshold, "depths": data.depths},
        "recall_curve": recall_curve(data.qrels, data.candidates, relevance_level=level),
        "dense": dense,
        "sweep": list(data.rows),
        "pareto": pareto_front([dense, *data.rows], metric, "p50_ms"),
        "query_deltas": deltas,
        "delta_summary": delta_summary(deltas),
        "cutoff": cutoff_curve(data.qrels, data.candidates, scores, k, relevance_level=level),
        "cutoff_at_threshold": at,
    }


def describe_tradeoffs(tables: Mapping[str, Any]) -> list[str]:
    """One line per figure saying what it shows, with the numbers (`tradeoff_tables` output)."""
    st = tables["settings"]
    metric, depth, k = st["metric"], st["depth"], st["k"]
    recall = {r["k"]: r["recall"] for r in tables["recall_curve"]}
    marks = sorted({*st["depths"], max(recall)} & set(recall))
    lines = ["Stage-1 recall@k (the ceiling of any reranker): " + ", ".join(f"@{d} {recall[d]:.3f}" for d in marks) + "."]
    dense, sweep = tables["dense"], tables["sweep"]
    best = max(sweep, key=lambda r: r[metric])
    lines.append(
        f"{metric} after reranking: dense alone {dense[metric]:.3f}; "
        + ", ".join(f"@{r['depth']} {r[metric]:.3f}" for r in sweep)
        + f"; best at depth {best['depth']} ({best[metric] - dense[metric]:+.3f} over dense)."
    )
    timed = [r for r in sweep if r.get("p50_ms") is not None]
    if timed:
        lines.append(
            f"p50 latency per query: stage 1 {timed[0]['stage1_p50_ms']:.1f} ms; reranking "
            + ", ".join(f"@{r['depth']} {r['rerank_p50_ms']:.1f} ms" for r in timed)
            + f"; both at depth {timed[-1]['depth']}: p50 {timed[-1]['p50_ms']:.1f} ms, p95 {timed[-1]['p95_ms']:.1f} ms "
            f"(over {timed[-1]['latency_queries']} queries)."
        )
    front = tables["pareto"]
    if front:
        name = lambda r: "dense" if not r["depth"] else f"rerank@{r['depth']}"  # noqa: E731
        on = [f"{name(r)} ({r['p50_ms']:.1f} ms, {r[metric]:.3f})" for r in front if r["pareto"]]
        off = [name(r) for r in front if not r["pareto"]]
        lines.append(f"Pareto front of {metric} against p50 latency: " + ", ".join(on) + (f"; dominated: {', '.join(off)}." if off else "; nothing dominated."))
    d = tables["delta_summary"]
    lines.append(
        f"Per query, dense + rerank@{depth} against dense ({metric}): {d['wins']} wins, {d['losses']} losses, "
        f"{d['ties']} ties of {d['queries']}; mean change {d['mean_delta']:+.3f} (largest gain {d['max_gain']:+.3f}, "
        f"largest loss {d['max_loss']:+.3f})."
    )
    cut = tables["cutoff"]
    if cut:
        full = cut[0]
        text = (
            f"Cut-off on the reranked top {k} (rerank@{depth}): with no cut, precision {_fmt(full['precision'])} "
            f"({full['relevant']} relevant of {full['hits']} hits)"
        )
        at = tables.get("cutoff_at_threshold")
        if at is not None:
            text += (
                f"; at the calibrated threshold {st['threshold']:.6g} it keeps {at['kept_fraction']:.1%} of the hits and "
                f"{at['relevant_kept_fraction']:.1%} of the relevant ones, precision {_fmt(at['precision'])}, "
                f"{at['empty_queries']} of {at['queries']} queries left empty"
            )
        mid = cut[len(cut) // 2]
        text += (
            f"; at the median score {mid['threshold']:.6g}: {mid['kept_fraction']:.1%} kept, "
            f"{mid['relevant_kept_fraction']:.1%} of the relevant, precision {_fmt(mid['precision'])}."
        )
        lines.append(text)
    return lines


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
