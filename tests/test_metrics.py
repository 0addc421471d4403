"""Metric values: hand-computed cases, and pytrec_eval (trec_eval) on random runs."""

from __future__ import annotations

import copy
import math
import random

import pytest

from benchmarks.metrics import compare_stages, evaluate, per_query, ranx_name, score_stages, usable_metrics


def test_hand_computed_binary_case():
    qrels = {"q1": {"a": 1, "c": 1}, "q2": {"x": 1}}
    run = {"q1": {"b": 0.9, "a": 0.8, "d": 0.7, "c": 0.6}, "q2": {"y": 0.5}}
    got = evaluate(qrels, run, ["ndcg@10", "mrr@10", "recall@1", "recall@3", "recall@10"])
    # q1: relevant at ranks 2 and 4. DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3). q2: nothing found.
    ndcg_q1 = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert got["ndcg@10"] == pytest.approx(ndcg_q1 / 2)
    assert got["mrr@10"] == pytest.approx(0.5 / 2)
    assert got["recall@1"] == 0.0
    assert got["recall@3"] == pytest.approx(0.5 / 2)
    assert got["recall@10"] == pytest.approx(1.0 / 2)


def test_graded_ndcg_uses_linear_gains_and_level_two_binarises_mrr_and_recall():
    qrels = {"q": {"a": 1, "b": 3, "c": 2}}
    run = {"q": {"a": 3.0, "b": 2.0, "x": 1.0, "c": 0.5}}
    # DCG = 1 + 3/log2(3) + 2/log2(5); ideal order b, c, a: 3 + 2/log2(3) + 1/log2(4).
    ndcg = (1 + 3 / math.log2(3) + 2 / math.log2(5)) / (3 + 2 / math.log2(3) + 1 / 2)
    level1 = evaluate(qrels, run, ["ndcg@10", "mrr@10", "recall@2"])
    level2 = evaluate(qrels, run, ["ndcg@10", "mrr@10", "recall@2"], relevance_level=2)
    assert level1["ndcg@10"] == pytest.approx(ndcg)
    assert level2["ndcg@10"] == pytest.approx(ndcg)  # nDCG keeps every grade
    assert level1["mrr@10"] == 1.0 and level2["mrr@10"] == 0.5  # "a" (grade 1) is not relevant at level 2
    assert level1["recall@2"] == pytest.approx(2 / 3) and level2["recall@2"] == pytest.approx(1 / 2)


def test_judged_queries_only_missing_ones_score_zero_and_inputs_untouched():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    run = {"q1": {"a": 1.0}, "unjudged": {"z": 1.0}}
    before = (copy.deepcopy(qrels), copy.deepcopy(run))
    assert evaluate(qrels, run, ["mrr@10"]) == {"mrr@10": 0.5}
    assert per_query(qrels, run, ["mrr@10"]) == {"mrr@10": {"q1": 1.0, "q2": 0.0}}
    assert (qrels, run) == before


def test_names_and_cutoffs():
    assert ranx_name("recall@100", 2) == "recall@100-l2"
    assert ranx_name("ndcg@10", 2) == "ndcg@10"
    assert ranx_name("mrr@10", 1) == "mrr@10"
    assert usable_metrics(["ndcg@10", "recall@100", "recall@1000"], 500) == ("ndcg@10", "recall@100")
    assert usable_metrics(["recall@1000"], 5183) == ("recall@1000",)
    with pytest.raises(ValueError, match="qrels are empty"):
        evaluate({}, {"q": {"a": 1.0}})


def _random_case(seed: int, graded: bool) -> tuple[dict, dict]:
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(300)]
    qrels, run = {}, {}
    for q in range(40):
        qid = f"q{q}"
        qrels[qid] = {d: rng.choice([1, 2, 3] if graded else [1]) for d in rng.sample(docs, rng.randint(1, 12))}
        if graded:  # judged non-relevant documents too, as TREC qrels have
            qrels[qid].update({d: 0 for d in rng.sample(docs, 5) if d not in qrels[qid]})
        if q % 13 == 5:
            continue  # a judged query the run misses
        retrieved = rng.sample(docs, rng.randint(5, 150))
        scores = rng.sample(range(10**6), len(retrieved))  # distinct: no tie-breaking differences
        run[qid] = {d: float(s) for d, s in zip(retrieved, scores)}
    return qrels, run


def _top(run: dict, k: int) -> dict:
    return {q: dict(sorted(docs.items(), key=lambda x: -x[1])[:k]) for q, docs in run.items()}


@pytest.mark.parametrize("graded,level", [(False, 1), (True, 1), (True, 2)])
def test_agrees_with_pytrec_eval_on_random_runs(graded, level):
    pytrec_eval = pytest.importorskip("pytrec_eval")
    qrels, run = _random_case(seed=7 + level, graded=graded)
    ours = per_query(qrels, run, ["ndcg@10", "mrr@10", "recall@10", "recall@100"], relevance_level=level)
    full = {q: run.get(q, {}) for q in qrels}
    ndcg = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(full)
    recall = pytrec_eval.RelevanceEvaluator(qrels, {"recall.10,100"}, relevance_level=level).evaluate(full)
    # MRR@10 is trec_eval's recip_rank over the top 10.
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}, relevance_level=level).evaluate(_top(full, 10))
    for qid in qrels:
        expect_ndcg = ndcg[qid]["ndcg_cut_10"] if qid in ndcg else 0.0
        assert ours["ndcg@10"][qid] == pytest.approx(expect_ndcg, abs=1e-9), qid
        if qid in recall:
            assert ours["recall@10"][qid] == pytest.approx(recall[qid]["recall_10"], abs=1e-9), qid
            assert ours["recall@100"][qid] == pytest.approx(recall[qid]["recall_100"], abs=1e-9), qid
        if qid in rr:
            assert ours["mrr@10"][qid] == pytest.approx(rr[qid]["recip_rank"], abs=1e-9), qid
    missing = [q for q in qrels if q not in run]
    assert missing and all(ours["ndcg@10"][q] == 0.0 for q in missing)


def test_score_stages_and_paired_tests():
    rng = random.Random(0)
    qrels = {f"q{i}": {f"rel{i}": 1} for i in range(60)}
    good = {q: {next(iter(d)): 2.0, "junk": 1.0} for q, d in qrels.items()}
    bad = {q: {"junk": 2.0, next(iter(d)): rng.random()} for q, d in qrels.items()}
    scores = score_stages(qrels, {"good": good, "bad": bad}, ["mrr@10", "recall@10"])
    assert scores == {"good": {"mrr@10": 1.0, "recall@10": 1.0}, "bad": {"mrr@10": 0.5, "recall@10": 1.0}}
    rows = compare_stages(qrels, {"good": good, "bad": bad, "same": dict(good)}, ["mrr@10"])
    by_pair = {(r["a"], r["b"]): r for r in rows}
    assert by_pair["good", "bad"]["significant"] and by_pair["good", "bad"]["better"] == "good"
    assert not by_pair["good", "same"]["significant"] and by_pair["good", "same"]["better"] is None
