"""benchmarks.tradeoffs on hand-computed cases, and the figures of benchmarks.tradeoff_plots."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.sweep import depth_sweep, run_sweep
from benchmarks.tradeoff_plots import FIGURES, write_tradeoffs
from benchmarks.tradeoffs import (
    SweepData,
    collect_sweep,
    cutoff_curve,
    delta_summary,
    describe_tradeoffs,
    pareto_front,
    query_deltas,
    recall_curve,
    stage1_point,
    tradeoff_tables,
)
from retrieval.types import Hit


def _hits(*doc_ids: str) -> list[Hit]:
    return [Hit(d, 1.0 - i / 10, i + 1) for i, d in enumerate(doc_ids)]


QRELS = {"q1": {"a": 1, "c": 1}, "q2": {"x": 1}}
CANDIDATES = {"q1": _hits("a", "b", "c", "d"), "q2": _hits("y", "x")}


# --- recall curve ---------------------------------------------------------------------------------


def test_recall_curve_by_hand():
    # q1 finds a at 1 and c at 3 (of 2 relevant); q2 finds x at 2.
    rows = recall_curve(QRELS, CANDIDATES, ks=[3, 1, 2])
    assert rows == [{"k": 1, "recall": 0.25}, {"k": 2, "recall": 0.75}, {"k": 3, "recall": 1.0}]


def test_recall_curve_default_ks_reach_the_deepest_list_and_accept_a_run():
    rows = recall_curve(QRELS, CANDIDATES)
    assert [r["k"] for r in rows] == [1, 2, 3, 4]
    run = {q: {h.doc_id: h.score for h in hits} for q, hits in CANDIDATES.items()}
    assert recall_curve(QRELS, run) == rows


def test_recall_curve_counts_a_judged_query_without_candidates_as_zero_and_honours_the_relevance_level():
    qrels = {**QRELS, "q3": {"z": 1}}
    assert recall_curve(qrels, CANDIDATES, ks=[3])[0]["recall"] == pytest.approx(2 / 3)
    graded = {"q1": {"a": 1, "c": 2}}  # at level 2 only c counts: found at rank 3
    assert [r["recall"] for r in recall_curve(graded, CANDIDATES, ks=[1, 3], relevance_level=2)] == [0.0, 1.0]


def test_recall_curve_refuses_non_positive_cut_offs():
    with pytest.raises(ValueError, match="positive"):
        recall_curve(QRELS, CANDIDATES, ks=[0, 5])


# --- stage 1 as a point, Pareto front -------------------------------------------------------------


def test_stage1_point_has_the_sweep_row_shape():
    untimed = stage1_point(QRELS, CANDIDATES, metrics=["mrr@10"])
    assert untimed["stage"] == "dense" and untimed["depth"] == 0
    assert untimed["mrr@10"] == pytest.approx((1.0 + 0.5) / 2)
    assert untimed["p50_ms"] is None and untimed["latency_queries"] == 0
    timed = stage1_point(QRELS, CANDIDATES, [0.001, 0.003, 0.002], metrics=["mrr@10"])
    assert timed["p50_ms"] == 2.0 and timed["stage1_p50_ms"] == 2.0 and timed["rerank_p50_ms"] == 0.0
    assert timed["latency_queries"] == 3


def test_pareto_front_by_hand():
    rows = [
        {"name": "slow-good", "q": 0.8, "ms": 50.0},
        {"name": "fast-bad", "q": 0.5, "ms": 5.0},
        {"name": "dominated", "q": 0.6, "ms": 60.0},  # slower and worse than slow-good
        {"name": "same-speed-worse", "q": 0.4, "ms": 5.0},  # as fast as fast-bad, worse
        {"name": "twin", "q": 0.8, "ms": 50.0},  # equal to slow-good: neither beats the other
        {"name": "untimed", "q": 0.9, "ms": None},
    ]
    out = pareto_front(rows, "q", "ms")
    assert [(r["name"], r["pareto"]) for r in out] == [
        ("fast-bad", True),
        ("same-speed-worse", False),
        ("slow-good", True),
        ("twin", True),
        ("dominated", False),
    ]
    assert "pareto" not in rows[0]  # the input rows are not modified


# --- per-query deltas -----------------------------------------------------------------------------


def test_query_deltas_by_hand():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 1}, "q4": {"d": 1}}
    baseline = {"q1": {"x": 2.0, "a": 1.0}, "q2": {"b": 2.0, "y": 1.0}, "q3": {"c": 1.0}}
    system = {"q1": {"a": 2.0, "x": 1.0}, "q2": {"y": 2.0, "z": 1.5, "w": 1.2, "b": 1.0}, "q3": {"c": 1.0}}
    rows = query_deltas(qrels, baseline, system, "mrr@10")
    assert [(r["qid"], r["baseline"], r["system"], r["outcome"]) for r in rows] == [
        ("q1", 0.5, 1.0, "win"),
        ("q3", 1.0, 1.0, "tie"),
        ("q4", 0.0, 0.0, "tie"),  # in neither run: 0 against 0
        ("q2", 1.0, 0.25, "loss"),
    ]
    assert [r["delta"] for r in rows] == [0.5, 0.0, 0.0, -0.75]
    assert delta_summary(rows) == {
        "queries": 4, "wins": 1, "losses": 1, "ties": 2, "mean_delta": -0.0625, "max_gain": 0.5, "max_loss": -0.75,
    }


def test_query_deltas_tolerance_makes_small_changes_ties():
    qrels = {"q": {"a": 1, "b": 1}}
    base, sys_ = {"q": {"a": 2.0, "b": 1.0, "c": 0.5}}, {"q": {"a": 2.0, "c": 1.0, "b": 0.5}}
    close = query_deltas(qrels, base, sys_, "ndcg@10")[0]
    assert close["outcome"] == "loss" and close["delta"] < 0
    assert query_deltas(qrels, base, sys_, "ndcg@10", tolerance=0.5)[0]["outcome"] == "tie"


# --- cut-off curve --------------------------------------------------------------------------------


def test_cutoff_curve_by_hand():
    qrels = {"q1": {"a": 1}, "q2": {"x": 1}}
    candidates = {"q1": _hits("a", "b", "c", "d"), "q2": _hits("y", "x")}
    # q1's last candidate is not scored (the reranker saw the top 3): never shown.
    scores = {"q1": np.array([0.9, 0.2, 0.6]), "q2": np.array([0.3, 0.8])}
    rows = cutoff_curve(qrels, candidates, scores, k=2, thresholds=[0.95, 0.0, 0.5, 0.85])
    # shown: q1 -> a (0.9, relevant), c (0.6); q2 -> x (0.8, relevant), y (0.3)
    got = [(r["threshold"], r["kept"], r["relevant_kept"], r["precision"], r["empty_queries"]) for r in rows]
    assert got == [(0.0, 4, 2, 0.5, 0), (0.5, 3, 2, 2 / 3, 0), (0.85, 1, 1, 1.0, 1), (0.95, 0, 0, None, 2)]
    assert [r["kept_fraction"] for r in rows] == [1.0, 0.75, 0.25, 0.0]
    assert [r["relevant_kept_fraction"] for r in rows] == [1.0, 1.0, 0.5, 0.0]
    assert {(r["queries"], r["hits"], r["relevant"]) for r in rows} == {(2, 4, 2)}


def test_cutoff_curve_default_thresholds_span_the_shown_scores():
    rng = np.random.default_rng(0)
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(20)}
    candidates = {f"q{i}": _hits(*(f"d{j}" for j in range(30))) for i in range(20)}
    scores = {q: rng.random(30) for q in qrels}
    rows = cutoff_curve(qrels, candidates, scores, k=5, steps=10)
    assert len(rows) == 11
    assert rows[0]["kept_fraction"] == 1.0 and rows[0]["hits"] == 100
    assert rows[-1]["kept"] == 1  # the highest shown score
    kept = [r["kept"] for r in rows]
    assert kept == sorted(kept, reverse=True)


def test_cutoff_curve_refuses_misaligned_scores_and_bad_k():
    with pytest.raises(ValueError, match="scores for"):
        cutoff_curve({"q": {"a": 1}}, {"q": _hits("a")}, {"q": np.array([0.1, 0.2])})
    with pytest.raises(ValueError, match="k must"):
        cutoff_curve({"q": {"a": 1}}, {"q": _hits("a")}, {"q": np.array([0.1])}, k=0)


# --- the tables of a sweep, and the figures -------------------------------------------------------


@pytest.fixture()
def sweep_data() -> SweepData:
    rng = np.random.default_rng(1)
    qrels, candidates, scores = {}, {}, {}
    for i in range(12):
        docs = [f"d{j}" for j in rng.permutation(80)[:40]]
        qrels[f"q{i}"] = {docs[j]: 1 for j in rng.choice(40, 2, replace=False)}
        candidates[f"q{i}"] = _hits(*docs)
        scores[f"q{i}"] = np.array([rng.random() * 0.5 + 0.5 * (d in qrels[f"q{i}"]) for d in docs[:20]])
    stage1 = [0.002, 0.003, 0.002]
    rerank = {5: [0.001, 0.002, 0.001], 20: [0.004, 0.005, 0.006]}
    rows = depth_sweep(qrels, candidates, scores, (5, 20), stage1_seconds=stage1, rerank_seconds=rerank)
    return SweepData(qrels, candidates, scores, rows, stage1, rerank, 1, threshold=0.5)


def test_tradeoff_tables_agree_with_each_other(sweep_data):
    tables = tradeoff_tables(sweep_data, metric="ndcg@10", k=10)
    assert tables["settings"] == {"depth": 20, "metric": "ndcg@10", "k": 10, "threshold": 0.5, "depths": [5, 20]}
    recall = {r["k"]: r["recall"] for r in tables["recall_curve"]}
    assert {r["depth"]: r["ceiling_recall"] for r in tables["sweep"]} == {5: recall[5], 20: recall[20]}
    assert max(recall) == 40
    deltas = tables["query_deltas"]
    assert len(deltas) == 12
    by_query = {r["qid"]: r for r in deltas}
    dense = tables["dense"]["ndcg@10"]
    reranked = next(r for r in tables["sweep"] if r["depth"] == 20)["ndcg@10"]
    assert np.mean([r["baseline"] for r in deltas]) == pytest.approx(dense)
    assert np.mean([by_query[q]["system"] for q in by_query]) == pytest.approx(reranked)
    at = tables["cutoff_at_threshold"]
    assert at["threshold"] == 0.5 and at["precision"] == 1.0  # every relevant scores >= 0.5, the rest < 0.5
    assert [r["depth"] for r in tables["pareto"]] == [0, 5, 20]


def test_tradeoff_tables_refuse_an_unknown_depth_or_metric(sweep_data):
    with pytest.raises(ValueError, match="depth 7"):
        tradeoff_tables(sweep_data, depth=7)
    with pytest.raises(ValueError, match="recall@3"):
        tradeoff_tables(sweep_data, metric="recall@3")


def test_write_tradeoffs_writes_every_figure_and_the_tables(sweep_data, tmp_path):
    paths = write_tradeoffs(sweep_data, tmp_path / "out", depth=5, title="toy")
    assert set(paths) == set(FIGURES)
    for path in paths.values():
        assert path.read_bytes()[:4] == b"\x89PNG"
    tables = json.loads((tmp_path / "out" / "tradeoffs.json").read_text())
    assert tables["settings"]["depth"] == 5
    lines = (tmp_path / "out" / "tradeoffs.md").read_text().splitlines()
    assert len(lines) == 6 and lines == [f"- {line}" for line in describe_tradeoffs(tradeoff_tables(sweep_data, depth=5))]
    assert "rerank@5" in lines[4] and "calibrated threshold 0.5" in lines[5]


# --- collect_sweep on a real index ----------------------------------------------------------------


class _OverlapReranker:
    """A reranker fake: word overlap of query and passage, squashed to (0, 1)."""

    threshold = None

    def score(self, queries, candidates):
        return [
            np.array([1 - 1 / (2 + len(set(q.split()) & set(f"{h.title} {h.text}".split()))) for h in hits])
            for q, hits in zip(queries, candidates)
        ]


def test_collect_sweep_keeps_what_run_sweep_computes(toy_corpus, tiny_encoder):
    from retrieval import Searcher, build_index

    searcher = Searcher(build_index(toy_corpus, tiny_encoder, show_progress=False), tiny_encoder)
    queries = {f"q{i}": t for i, t in enumerate(["faiss vector search", "protein folding", "jazz music"])}
    qrels = {"q0": {"d0": 1, "d5": 1}, "q1": {"d1": 1}, "q2": {"d4": 2, "d9": 1}}
    reranker = _OverlapReranker()
    data = collect_sweep(
        searcher, reranker, queries, qrels, (5, 10), retrieval_depth=30, latency_queries=2, show_progress=False
    )
    assert data.depths == [5, 10]
    assert {len(h) for h in data.candidates.values()} == {30}
    assert {len(s) for s in data.scores.values()} == {10}
    assert len(data.stage1_seconds) == 2 and set(data.rerank_seconds) == {5, 10}
    reference = run_sweep(searcher, reranker, queries, qrels, (5, 10), latency_queries=2, show_progress=False)
    quality = ("depth", "ndcg@10", "mrr@10", "ceiling_recall")
    assert [{k: r[k] for k in quality} for r in data.rows] == [{k: r[k] for k in quality} for r in reference]
    with pytest.raises(ValueError, match="no judged query"):
        collect_sweep(searcher, reranker, {"other": "x"}, qrels, (5,), show_progress=False)


# --- python -m benchmarks.run writes the same figures ---------------------------------------------


def test_run_benchmark_writes_the_tradeoff_figures(tmp_path, tiny_encoder, monkeypatch):
    from benchmarks.config import load_config
    from benchmarks.harness import run_benchmark

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = tmp_path / "toy"
    (folder / "qrels").mkdir(parents=True)
    topics = ["faiss vector search", "protein folding", "climate models", "jazz music"]
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": f"d{i}", "title": "", "text": f"{topics[i % 4]} note {i}"}) + "\n" for i in range(24))
    )
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": f"q{t}", "text": topics[t]}) + "\n" for t in range(4)))
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"q{i % 4}\td{i}\t1\n" for i in range(24))
    )
    config = load_config(
        str(folder), stages=("dense", "dense+rerank"), depths=(5, 10), candidates=10, latency_queries=2,
        out=str(tmp_path / "out"), data_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"),
    )
    run_benchmark(config, encoder=tiny_encoder, reranker=_OverlapReranker(), show_progress=False, log=lambda _: None)
    out = tmp_path / "out"
    for name in FIGURES.values():
        assert (out / name).read_bytes()[:4] == b"\x89PNG", name
    tables = json.loads((out / "tradeoffs.json").read_text())
    assert tables["settings"]["depth"] == 10 and tables["recall_curve"][-1]["k"] == 24
    assert len(tables["query_deltas"]) == 4
