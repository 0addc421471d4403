"""Metrics by name, computed by ranx: always a dict, never mutating the inputs.

Conventions (those of trec_eval and the BEIR/MS MARCO leaderboards):
- every query in the qrels counts; a query the run misses scores 0; run entries for queries
  without qrels are ignored;
- nDCG uses the graded judgements as linear gains (trec_eval's ``ndcg_cut``), every grade >= 1;
- binary metrics (MRR, recall, precision, MAP) count a document relevant when its grade is at
  least `relevance_level`: 1 for binary qrels, 2 for TREC DL's graded ones (ranx's ``-l2``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["DEFAULT_METRICS", "GRADED", "compare_stages", "evaluate", "per_query", "ranx_name", "score_stages", "usable_metrics"]

DEFAULT_METRICS = ("ndcg@10", "mrr@10", "recall@10", "recall@100", "recall@1000")
GRADED = frozenset({"ndcg", "dcg", "ndcg_burges", "dcg_burges"})

Qrels = Mapping[str, Mapping[str, int]]
RunLike = Mapping[str, Mapping[str, float]]


def ranx_name(metric: str, relevance_level: int = 1) -> str:
    """The ranx name of `metric` at a relevance level (graded metrics keep every grade).

    Example:
        >>> ranx_name("mrr@10", 2), ranx_name("ndcg@10", 2)
        ('mrr@10-l2', 'ndcg@10')
    """
    base = metric.split("@")[0]
    if "-l" in metric or relevance_level <= 1 or base in GRADED:
        return metric
    return f"{metric}-l{relevance_level}"


def usable_metrics(metrics: Iterable[str], corpus_size: int) -> tuple[str, ...]:
    """Drop cut-offs the corpus cannot fill beyond 100 (recall@1000 on a 500-document corpus)."""
    out = []
    for metric in metrics:
        _, _, cut = metric.partition("@")
        k = int(cut.split("-")[0]) if cut else 0
        if k <= 100 or k <= corpus_size:
            out.append(metric)
    return tuple(out)


def _prepare(qrels: Qrels, run: RunLike) -> tuple[Any, Any]:
    """ranx Qrels and Run over exactly the judged queries, built from copies of the inputs."""
    from ranx import Qrels as RQrels
    from ranx import Run as RRun

    if not qrels:
        raise ValueError("qrels are empty: nothing to evaluate against")
    q = {qid: {doc: int(rel) for doc, rel in docs.items()} for qid, docs in qrels.items()}
    r = {qid: {doc: float(s) for doc, s in run.get(qid, {}).items()} for qid in q}
    return RQrels(q), RRun(r)


def per_query(
    qrels: Qrels, run: RunLike, metrics: Sequence[str] = DEFAULT_METRICS, relevance_level: int = 1
) -> dict[str, dict[str, float]]:
    """``{metric: {qid: value}}`` over every judged query."""
    from ranx import evaluate as ranx_evaluate

    metrics = list(metrics)
    rq, rr = _prepare(qrels, run)
    names = [ranx_name(m, relevance_level) for m in metrics]
    # ranx returns a bare array for a single metric (and mislabels it): always ask for two or more.
    asked = names if len(names) > 1 else names * 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba's unsigned-cast notices inside ranx
        scores = ranx_evaluate(rq, rr, asked, return_mean=False, save_results_in_run=False)
    qids = list(rr.keys())
    return {m: {qid: float(v) for qid, v in zip(qids, scores[n])} for m, n in zip(metrics, names)}


def evaluate(
    qrels: Qrels, run: RunLike, metrics: Sequence[str] = DEFAULT_METRICS, relevance_level: int = 1
) -> dict[str, float]:
    """Mean of each metric over the judged queries.

    Example:
        >>> evaluate({"q": {"a": 1}}, {"q": {"b": 2.0, "a": 1.0}}, ["mrr@10", "recall@1"])
        {'mrr@10': 0.5, 'recall@1': 0.0}
    """
    return {m: float(np.mean(list(v.values()))) for m, v in per_query(qrels, run, metrics, relevance_level).items()}


def score_stages(
    qrels: Qrels, runs: Mapping[str, RunLike], metrics: Sequence[str] = DEFAULT_METRICS, relevance_level: int = 1
) -> dict[str, dict[str, float]]:
    """Score every stage's run on the same qrels with the same metrics: ``{stage: {metric: value}}``."""
    return {stage: evaluate(qrels, run, metrics, relevance_level) for stage, run in runs.items()}


def compare_stages(
    qrels: Qrels,
    runs: Mapping[str, RunLike],
    metrics: Sequence[str] = ("ndcg@10", "mrr@10", "recall@100"),
    relevance_level: int = 1,
    stat_test: str = "student",
    max_p: float = 0.05,
    seed: int = 42,
) -> list[dict[str, Any]]:
    """Paired significance tests between every two stages (ranx ``compare``), per metric.

    Returns one row per (stage a, stage b, metric): both means, the p-value, whether it is below
    `max_p`, and which stage is better.
    """
    from ranx import compare

    stages = list(runs)
    if len(stages) < 2:
        return []
    rq = None
    ranx_runs = []
    for stage in stages:
        rq, rr = _prepare(qrels, runs[stage])
        rr.name = stage
        ranx_runs.append(rr)
    names = [ranx_name(m, relevance_level) for m in metrics]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = compare(rq, ranx_runs, names, stat_test=stat_test, max_p=max_p, random_seed=seed)
    rows = []
    for i, a in enumerate(stages):
        for b in stages[i + 1 :]:
            tests = report.comparisons[a, b]
            for metric, name in zip(metrics, names):
                mean_a, mean_b = report.results[a][name], report.results[b][name]
                p = float(tests[name]["p_value"])
                rows.append(
                    {
                        "a": a,
                        "b": b,
                        "metric": metric,
                        "mean_a": float(mean_a),
                        "mean_b": float(mean_b),
                        "p_value": p,
                        "significant": bool(p < max_p),
                        "better": a if mean_a > mean_b else b if mean_b > mean_a else None,
                    }
                )
    return rows
