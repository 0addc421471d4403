"""The stage trade-offs, as tidy tables: what stage 1 can find, what reranking buys, what it costs.

`collect_sweep` runs a depth sweep (the functions of `benchmarks.sweep` and `benchmarks.stages`,
the same ones ``python -m benchmarks.run`` calls) and keeps what the sweep was computed from:
stage-1 candidates, reranker scores, per-query timings. The analysis functions read those and
return lists of dicts, one row per point of a curve:

- `recall_curve`: stage-1 recall@k against k, the ceiling of any reranker at depth k;
- `stage1_point`: stage 1 alone as a row shaped like the sweep's (its quality and latency);
- `pareto_front`: which configurations no other one beats on both quality and latency;
- `query_deltas` / `delta_summary`: per-query wins, losses and ties of one run against another;
- `cutoff_curve`: for thresholds over the reranker's scores, the share of hits kept and the
  precision of what is kept.

`tradeoff_tables` computes them all from a `SweepData`; `describe_tradeoffs` says in words what
each one shows.

Example:
    >>> hits = {"q": [Hit("a", 0.9, 1), Hit("b", 0.8, 2)]}
    >>> recall_curve({"q": {"b": 1}}, hits, ks=[1, 2])
    [{'k': 1, 'recall': 0.0}, {'k': 2, 'recall': 1.0}]
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.latency import Latency, sample_ids
from benchmarks.metrics import evaluate, per_query
from benchmarks.stages import dense_candidates, hits_to_run, rerank_scores, reranked_run
from benchmarks.sweep import SWEEP_METRICS, depth_sweep, rerank_latency, stage1_latency
from retrieval.sentence_reranker import with_sentence_scores
from retrieval.types import Hit

__all__ = [
    "SweepData",
    "collect_sweep",
    "cutoff_curve",
    "delta_summary",
    "describe_tradeoffs",
    "find_data_dir",
    "pareto_front",
    "project_dir",
    "query_deltas",
    "recall_curve",
    "stage1_point",
    "tradeoff_tables",
]

Qrels = Mapping[str, Mapping[str, int]]
RunLike = Mapping[str, Mapping[str, float]]

_RECALL_KS = (1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000)


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
    top = max(depths)
    deep = max(top, retrieval_depth or 0)
    candidates = dense_candidates(searcher, judged, deep, show_progress=show_progress)
    reranker = with_sentence_scores(reranker, searcher.encoder)  # as the Searcher does, when it fuses them
    scores = rerank_scores(reranker, judged, candidates, top, show_progress=show_progress)
    sample = sample_ids(list(judged), latency_queries, seed)
    texts = [judged[q] for q in sample]
    stage1 = stage1_latency(searcher, texts, top)
    rerank = {d: rerank_latency(reranker, texts, [candidates[q] for q in sample], d, show_progress) for d in depths}
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


def project_dir() -> Path:
    """The checkout this package runs from (the folder of ``pyproject.toml``), else the working directory."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").exists() else Path.cwd()


def find_data_dir(start: str | Path | None = None) -> Path:
    """Where local datasets are: ``$TWOSTAGE_DATA_DIR``, else the nearest ``shared/datasets`` above `start`.

    `start` (default: the working directory, a notebook's own folder) and then the checkout are
    searched upwards, so ``<checkout>/../shared/datasets`` is found from anywhere inside it.

    Example:
        >>> find_data_dir().name  # doctest: +SKIP
        'datasets'
    """
    env = os.environ.get("TWOSTAGE_DATA_DIR")
    if env:
        return Path(env)
    looked = []
    for origin in (Path(start or Path.cwd()).resolve(), project_dir()):
        for folder in (origin, *origin.parents):
            candidate = folder / "shared" / "datasets"
            if candidate.is_dir():
                return candidate
        looked.append(str(origin))
    raise FileNotFoundError(
        f"no shared/datasets folder above {' or '.join(looked)}; set DATA_DIR (or $TWOSTAGE_DATA_DIR) to the folder "
        "holding the datasets (<data-dir>/scifact/ in BEIR layout)"
    )


def _as_run(candidates: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    if any(isinstance(v, Mapping) for v in candidates.values()):
        return {q: {d: float(s) for d, s in docs.items()} for q, docs in candidates.items()}
    return hits_to_run(candidates)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
