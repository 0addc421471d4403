"""The benchmark harness: config, BM25, stages, the depth sweep, the results folder and the CLI."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from benchmarks.bm25 import BM25Retriever
from benchmarks.config import BenchmarkConfig, BM25Params, Reference, load_config, to_toml
from benchmarks.harness import check_references, run_benchmark
from benchmarks.metrics import evaluate
from benchmarks.run import main
from benchmarks.stages import hits_to_run, rerank_scores, reranked_run
from benchmarks.sweep import depth_sweep
from benchmarks.trec import read_run
from indexes import Document
from retrieval.types import Hit

TOPICS = {
    "faiss": "faiss vector search index similarity",
    "protein": "protein folding structure amino acids",
    "climate": "climate models warming carbon ocean",
    "football": "football match goals league season",
    "jazz": "jazz music saxophone improvisation swing",
}


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture()
def toy_beir(tmp_path) -> Path:
    """30 documents on 5 topics; one query per topic judging its documents (graded 1-2)."""
    folder = tmp_path / "toy"
    (folder / "qrels").mkdir(parents=True)
    names = list(TOPICS)
    with open(folder / "corpus.jsonl", "w") as f:
        for i in range(30):
            topic = names[i % 5]
            words = TOPICS[topic].split()
            text = " ".join(words[(i + j) % len(words)] for j in range(3)) + f" note {i}"
            f.write(json.dumps({"_id": f"d{i}", "title": topic if i % 2 else "", "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w") as f:
        for q, topic in enumerate(names):
            f.write(json.dumps({"_id": f"q{q}", "text": f"{TOPICS[topic].split()[1]} {topic}"}) + "\n")
    with open(folder / "qrels" / "test.tsv", "w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q in range(5):
            for i in range(q, 30, 5):
                f.write(f"q{q}\td{i}\t{1 + (i % 2)}\n")
    return folder


class KeywordReranker:
    """A reranker fake at the Reranker interface: shared words, ties broken by document id."""

    threshold = None

    def __init__(self) -> None:
        self.pairs = 0

    def score(self, queries, candidates):
        out = []
        for query, hits in zip(queries, candidates):
            words = set(query.lower().split())
            self.pairs += len(hits)
            out.append(
                np.array([len(words & set(f"{h.title} {h.text}".lower().split())) + 1e-3 * int(h.doc_id[1:]) for h in hits])
            )
        return out


# --- config -------------------------------------------------------------------------------------


def test_config_round_trips_through_json_and_toml():
    config = BenchmarkConfig(
        dataset="scifact",
        stages=("bm25", "dense"),
        encoder="some/model",
        depths=(5, 10),
        bm25=BM25Params(k1=0.9, b=0.4, stemmer="none"),
        references=(Reference("bm25", "ndcg@10", 0.6, 0.7, source="x"), Reference("dense", "mrr@10", 0.5, 0.5, split="dev")),
        max_queries=None,
    )
    assert BenchmarkConfig.from_dict(json.loads(config.to_json())) == config
    assert BenchmarkConfig.from_dict(tomllib.loads(to_toml(config.to_dict()))) == config


def test_config_refuses_unknown_keys_stages_and_depths(tmp_path):
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['candidate'\]"):
        BenchmarkConfig.from_dict({"dataset": "x", "candidate": 5})
    with pytest.raises(ValueError, match=r"unknown stage\(s\) \['rerank'\]"):
        BenchmarkConfig(dataset="x", stages=("rerank",))
    with pytest.raises(ValueError, match="positive integers"):
        BenchmarkConfig(dataset="x", depths=(0, 10))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['k3'\] in \[bm25\]"):
        BenchmarkConfig.from_dict({"dataset": "x", "bm25": {"k3": 1}})


def test_config_layers_dataset_file_then_user_file_then_overrides(tmp_path):
    shipped = load_config("scifact")
    assert shipped.references[0].stage == "bm25" and shipped.references[0].low == 0.665
    user = tmp_path / "mine.toml"
    user.write_text("candidates = 20\nlatency_queries = 3\n[bm25]\nk1 = 0.9\n")
    config = load_config("scifact", user, latency_queries=5, encoder=None)
    assert (config.candidates, config.latency_queries, config.bm25.k1, config.bm25.b) == (20, 5, 0.9, 0.75)
    assert config.references == shipped.references
    assert config.rerank_depth == 20  # the sweep's largest depth


def test_references_within_outside_and_not_applicable():
    refs = (
        Reference("bm25", "ndcg@10", 0.665, 0.687, 0.01),
        Reference("dense", "ndcg@10", 0.645, 0.645, 0.01, applies_to="hub/model"),
        Reference("dense", "mrr@10", 0.1, 0.2, split="dev"),
    )
    stages = {"bm25": {"ndcg@10": 0.69}, "dense": {"ndcg@10": 0.2, "mrr@10": 0.15}}
    rows = check_references(refs, stages, {"encoder": "/tmp/x", "names": {"encoder": "/tmp/x"}}, split="test")
    assert [r["status"] for r in rows] == ["within", "n/a (run used /tmp/x)"]
    rows = check_references(refs[:2], {"bm25": {"ndcg@10": 0.70}, "dense": {"ndcg@10": 0.64}}, {"names": {"encoder": "hub/model"}})
    assert [r["status"] for r in rows] == ["outside", "within"]


# --- BM25 ---------------------------------------------------------------------------------------


def test_bm25_stems_removes_stopwords_and_drops_non_matches():
    docs = [Document("a", "Searching vectors quickly", title="FAISS"), Document("b", "the proteins are folding")]
    bm25 = BM25Retriever(docs)
    run = bm25.search({"q1": "the searches", "q2": "protein fold", "q3": "the and of", "q4": "faiss"}, k=10)
    assert list(run["q1"]) == ["a"] and list(run["q2"]) == ["b"]  # stemmed; "the" is a stopword
    assert run["q3"] == {} and list(run["q4"]) == ["a"]  # the title is indexed
    plain = BM25Retriever(docs, BM25Params(stemmer="none", stopwords="none")).search({"q": "the searches"}, k=10)
    assert list(plain["q"]) == ["b"]  # only "the" matches without stemming
    with pytest.raises(ValueError, match="unknown stemmer 'klingon'"):
        BM25Retriever(docs, BM25Params(stemmer="klingon"))


# --- stages and the sweep -----------------------------------------------------------------------


def _random_candidates(seed: int, n_queries: int = 12, depth: int = 40):
    rng = np.random.default_rng(seed)
    candidates, qrels = {}, {}
    for q in range(n_queries):
        ids = [f"d{i}" for i in rng.permutation(200)[:depth]]
        candidates[f"q{q}"] = [Hit(d, 1.0 - r / depth, r + 1, text=f"text {d}") for r, d in enumerate(ids)]
        qrels[f"q{q}"] = {d: int(rng.integers(1, 3)) for d in rng.choice(ids + ["d999"], 4, replace=False)}
    return candidates, qrels


def test_smaller_depths_derived_from_one_pass_equal_reranking_at_that_depth():
    candidates, qrels = _random_candidates(0)
    queries = {q: f"query {q}" for q in candidates}
    reranker = KeywordReranker()
    rng = np.random.default_rng(1)
    noise = {q: rng.random(40) for q in candidates}

    class Noisy(KeywordReranker):
        def score(self, qs, cands):
            return [noise[q.split()[1]][[int(h.stage1_rank or h.rank) - 1 for h in hits]] for q, hits in zip(qs, cands)]

    reranker = Noisy()
    once = rerank_scores(reranker, queries, candidates, depth=40, show_progress=False)
    rows = depth_sweep(qrels, candidates, once, [5, 10, 20, 40])
    for row in rows:
        direct = rerank_scores(reranker, queries, candidates, depth=row["depth"], show_progress=False)
        run = reranked_run(candidates, direct, row["depth"])
        assert evaluate(qrels, run, ["ndcg@10", "mrr@10"]) == {"ndcg@10": row["ndcg@10"], "mrr@10": row["mrr@10"]}
        stage1 = evaluate(qrels, hits_to_run(candidates), [f"recall@{row['depth']}"])
        assert row["ceiling_recall"] == stage1[f"recall@{row['depth']}"]
    assert [r["ceiling_recall"] for r in rows] == sorted(r["ceiling_recall"] for r in rows)
    assert rows[0]["p50_ms"] is None and rows[0]["latency_queries"] == 0


def test_reranked_run_keeps_stage1_candidates_only_and_order_below_depth():
    candidates, _ = _random_candidates(2, n_queries=3)
    scores = {q: np.arange(len(h), dtype=float) for q, h in candidates.items()}  # reverses the top
    run = reranked_run(candidates, scores, depth=10)
    for qid, hits in candidates.items():
        ranked = sorted(run[qid], key=run[qid].get, reverse=True)
        assert set(ranked) == {h.doc_id for h in hits}
        assert ranked[:10] == [h.doc_id for h in hits[:10]][::-1]
        assert ranked[10:] == [h.doc_id for h in hits[10:]]


# --- the whole run ------------------------------------------------------------------------------


def test_run_benchmark_every_stage_writes_a_complete_results_folder(toy_beir, tiny_encoder, tmp_path):
    config = load_config(
        str(toy_beir), out=str(tmp_path / "out"), depths=(5, 10, 20), candidates=10, latency_queries=3,
        cache_dir=str(tmp_path / "cache"),
    )
    reranker = KeywordReranker()
    result = run_benchmark(config, encoder=tiny_encoder, reranker=reranker, show_progress=False, log=lambda _: None)
    out, metrics = result.out_dir, result.metrics
    assert out == tmp_path / "out"
    for name in ("config.json", "config.toml", "environment.json", "metrics.json", "report.md", "sweep.csv"):
        assert (out / name).is_file(), name
    for name in ("tradeoff.png", "stages.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((out / "metrics.json").read_text())
    stages = ["bm25", "dense-pretrained", "dense", "dense+rerank", "hybrid"]
    assert saved["dataset"] == "toy" and list(saved["stages"]) == stages
    assert saved["metrics"] == ["ndcg@10", "mrr@10", "recall@10", "recall@100"]  # no @1000 on 30 documents
    assert saved["stages"]["dense+rerank"]["ceiling_recall@10"] == pytest.approx(saved["stages"]["dense"]["recall@10"])
    assert [r["depth"] for r in saved["sweep"]] == [5, 10, 20]
    assert all(r["latency_queries"] == 3 and r["p50_ms"] > 0 for r in saved["sweep"])
    assert set(saved["latency"]) == set(stages)
    assert len(saved["significance"]["pairs"]) == 10 * 3
    # the given encoder is not the packaged model; dense-pretrained is the packaged all-MiniLM-L6-v2, zero-shot
    assert saved["models"]["names"]["pretrained"] == "sentence-transformers/all-MiniLM-L6-v2"
    # one reranking pass at the largest depth (20, on 5 queries), plus the timed sample per depth
    assert saved["counts"]["rerank_pairs"] == 5 * 20
    assert reranker.pairs == 5 * 20 + (3 + 1) * (5 + 10 + 20)
    # the keyword reranker beats the random-weight encoder it reranks
    assert saved["stages"]["dense+rerank"]["ndcg@10"] > saved["stages"]["dense"]["ndcg@10"]
    for stage in saved["stages"]:
        run = read_run(out / "runs" / (stage.replace("+", "-") + ".trec"))
        rescored = evaluate(result.metrics and _qrels(toy_beir), run, ["ndcg@10", "recall@100"], saved["relevance_level"])
        assert rescored["ndcg@10"] == pytest.approx(saved["stages"][stage]["ndcg@10"])
    report = (out / "report.md").read_text()
    assert "| a | bm25 |" in report and "## Depth sweep" in report and "ceiling R@10" in report
    env = json.loads((out / "environment.json").read_text())
    assert env["libraries"]["ranx"] and env["cpu_count"] >= 1 and env["matmul_peak_gflops"] > 0


def _qrels(folder: Path) -> dict:
    from benchmarks.trec import read_beir_qrels

    return read_beir_qrels(folder / "qrels" / "test.tsv")


# --- the command line ---------------------------------------------------------------------------


def test_cli_bm25_only(toy_beir, tmp_path, capsys):
    out = tmp_path / "bm25"
    assert main([str(toy_beir), "--stages", "bm25", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "| a | bm25 |" in printed and str(out) in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["stages"]) == ["bm25"] and metrics["stages"]["bm25"]["ndcg@10"] > 0.5
    assert metrics["sweep"] == [] and metrics["models"]["encoder"] is None
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["bm25.trec"]


def test_cli_help_and_print_config(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for option in ("--data-dir", "--out", "--stages", "--encoder", "--reranker", "--depths"):
        assert option in text
    assert main(["scifact", "--print-config", "--stages", "bm25,dense"]) == 0
    printed = tomllib.loads(capsys.readouterr().out)
    assert printed["stages"] == ["bm25", "dense"] and printed["references"][0]["low"] == 0.665


def test_cli_refuses_an_unknown_stage(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["scifact", "--stages", "bm25,colbert"])
    assert exit_.value.code == 2 and "unknown stage(s) ['colbert']" in capsys.readouterr().err


def test_cli_missing_dataset_is_a_clear_error(tmp_path, capsys):
    assert main(["scifact", "--data-dir", str(tmp_path / "none"), "--stages", "bm25"]) == 2
    err = capsys.readouterr().err
    assert "dataset 'scifact' not found" in err and str(tmp_path / "none" / "scifact") in err


def test_cli_without_models_or_recipe_names_what_is_missing(toy_beir, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "rerank.train.recipe", None)  # as if the recipe were not there
    monkeypatch.setattr("benchmarks.models._from_hub", lambda name: None)  # nor any hub or packaged model
    code = main([str(toy_beir), "--stages", "bm25,dense", "--out", str(tmp_path / "o"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "rerank.train.recipe" in err and "scratch_models" in err and "--encoder PATH" in err
    assert "sentence-transformers/all-MiniLM-L6-v2" in err


def test_cli_with_model_paths_runs_every_stage(toy_beir, tiny_encoder_path, tokenizer_dir, tmp_path, capsys):
    pytest.importorskip("rerank.cross_encoder")
    from rerank.train.scratch import random_cross_encoder

    reranker = random_cross_encoder(tokenizer_dir, tmp_path / "ce", max_length=64)
    out = tmp_path / "run"
    code = main(
        [str(toy_beir), "--encoder", str(tiny_encoder_path), "--reranker", str(reranker), "--out", str(out),
         "--depths", "5,10", "--candidates", "10", "--latency-queries", "2", "--no-progress",
         "--stages", "bm25,dense,dense+rerank,hybrid", "--cache-dir", str(tmp_path / "cache")]
    )
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["stages"]) == ["bm25", "dense", "dense+rerank", "hybrid"]
    assert metrics["models"]["origin"] == {"encoder": "given", "reranker": "given"}
    assert [r["depth"] for r in metrics["sweep"]] == [5, 10]


def test_without_models_the_recipe_trains_on_the_train_split_only(toy_beir, tiny_encoder_path, tmp_path, monkeypatch):
    """The wiring to rerank.train.recipe: the train split goes in (never test), the trained encoder comes out."""
    import rerank.train.recipe as recipe

    (toy_beir / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq4\td9\t1\n")
    calls = []

    def fake_scratch_models(data_dir, corpus, train_queries, train_qrels, cache_dir, seed=0, budget=None, show_progress=True):
        calls.append({"train_queries": train_queries, "train_qrels": train_qrels, "cache_dir": cache_dir, "budget": budget})
        return recipe.ScratchModels(tiny_encoder_path, tmp_path / "no-reranker", {"stage1": 1.5, "total": 2.0}, {"labels": "train qrels"})

    monkeypatch.setattr(recipe, "scratch_models", fake_scratch_models)
    monkeypatch.setattr("benchmarks.models._from_hub", lambda name: None)  # no hub or packaged model
    out = tmp_path / "scratch"
    code = main([str(toy_beir), "--stages", "dense", "--out", str(out), "--cache-dir", str(tmp_path / "c"),
                 "--scratch-budget", "fast", "--no-progress"])
    assert code == 0
    (call,) = calls
    assert call["train_qrels"] == {"q4": {"d9": 1}} and dict(call["train_queries"]) == {"q4": "music jazz"}
    assert call["budget"] is recipe.FAST and call["cache_dir"] == tmp_path / "c" / "scratch" / "toy"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["models"]["origin"] == {"encoder": "scratch"} and metrics["models"]["train_seconds"]["total"] == 2.0
    assert metrics["models"]["path"] == "from scratch" and metrics["models"]["fallback"]  # why not the pretrained one
    assert "trained here from scratch" in (out / "report.md").read_text()
    # toy test query q4 judges d9, which the train split also judges: said in the notes
    assert metrics["notes"] == [
        "1 of 5 test queries have a relevant document that the train split also judges relevant: "
        "models trained on it are not zero-shot here"
    ]


def test_hub_checks_answer_at_once_offline(monkeypatch):
    import time

    from benchmarks.hub import cached_model_path, hub_offline, hub_reachable

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    assert hub_offline() and not hub_reachable()
    assert cached_model_path("no-such-org/no-such-model") is None
    assert time.perf_counter() - start < 1.0
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    assert not hub_offline()


def test_report_marks_each_stage_with_the_letters_it_beats_in_order():
    from benchmarks.report import significance_marks, stage_table

    pairs = [
        {"a": "bm25", "b": "dense", "metric": "ndcg@10", "significant": True, "better": "dense"},
        {"a": "dense", "b": "hybrid", "metric": "ndcg@10", "significant": True, "better": "dense"},
        {"a": "bm25", "b": "hybrid", "metric": "ndcg@10", "significant": False, "better": "hybrid"},
        {"a": "bm25", "b": "dense", "metric": "mrr@10", "significant": True, "better": None},
    ]
    stages = ["bm25", "dense", "hybrid"]
    assert significance_marks(stages, pairs) == {("dense", "ndcg@10"): "ᵃᶜ"}
    result = {
        "stages": {s: {"ndcg@10": v, "mrr@10": 0.5} for s, v in zip(stages, (0.6, 0.8, 0.7))},
        "metrics": ["ndcg@10", "mrr@10"],
        "significance": {"pairs": pairs},
        "latency": {"dense": {"p50_ms": 8.04, "p95_ms": 12.0, "qps": 111.2}},
    }
    table = stage_table(result).splitlines()
    assert table[0] == "|  | stage | nDCG@10 | MRR@10 | p50 ms | p95 ms | q/s |"
    assert table[3] == "| b | dense | 0.8000ᵃᶜ | 0.5000 | 8.0 | 12.0 | 111.2 |"
    assert table[2] == "| a | bm25 | 0.6000 | 0.5000 | - | - | - |"


def test_the_report_of_a_corpus_only_pretrained_run_says_no_cross_encoder_was_trained():
    import json

    from benchmarks.config import load_config
    from benchmarks.report import render_report

    recipe = {"stage1": "base", "stage2": "none", "calibration": None, "labels": "none (corpus only)", "cached": True,
              "base": {"hub": "sentence-transformers/all-MiniLM-L6-v2", "revision": "r"}, "budget": "default"}
    result = json.loads(json.dumps({
        "dataset": "tiny", "split": "test", "source": "here", "documents": 3, "queries": 1, "judgements": 1,
        "relevance_level": 1, "notes": ["dense+rerank not scored"], "metrics": ["ndcg@10"],
        "stages": {"dense": {"ndcg@10": 0.5}}, "subsets": {}, "latency": {}, "sweep": [],
        "significance": {"pairs": []}, "references": [], "counts": {}, "depths": {}, "timings_s": {"total": 1.0},
        "models": {"path": "pretrained (fine-tuned)", "encoder": "m", "origin": {"encoder": "pretrained (zero-shot)"},
                   "recipe": recipe, "train_seconds": {"total": 1.0}},
    }))
    report = render_report(result, load_config("scifact"))
    assert "no stage 2 (without labels the recipe trains no cross-encoder)" in report and "stage-1 weight" not in report


def test_the_report_of_a_labelled_pretrained_run_names_the_head_and_the_weight_rule():
    import json

    from benchmarks.config import load_config
    from benchmarks.report import render_report

    def report_for(cross_encoder: dict, rule: str) -> str:
        calibration = {"stage1_weight": 1.95, "fusion": {"rule": rule, "queries": 81, "grid": {"0": 0.6, "1.95": 0.8}}}
        recipe = {"stage1": "fine-tuned", "stage2": "fine-tuned", "calibration": calibration, "labels": "train qrels",
                  "cached": True, "settings": {"cross_encoder": cross_encoder},
                  "base": {"hub": "sentence-transformers/all-MiniLM-L6-v2", "revision": "r"}, "budget": "default"}
        result = json.loads(json.dumps({
            "dataset": "tiny", "split": "test", "source": "here", "documents": 3, "queries": 1, "judgements": 1,
            "relevance_level": 1, "notes": [], "metrics": ["ndcg@10"],
            "stages": {"dense": {"ndcg@10": 0.5}}, "subsets": {}, "latency": {}, "sweep": [],
            "significance": {"pairs": []}, "references": [], "counts": {}, "depths": {}, "timings_s": {"total": 1.0},
            "models": {"path": "pretrained (fine-tuned)", "encoder": "m", "origin": {"encoder": "pretrained (fine-tuned)"},
                       "recipe": recipe, "train_seconds": {"total": 1.0}},
        }))
        return render_report(result, load_config("scifact"))

    mean = report_for({"head": "mean"}, "best")
    assert "one-logit head on the mean of the pair's tokens" in mean
    assert "stage-1 weight 1.95 chosen on held-out training queries (the best of 2 weights on 81 queries)" in mean
    older = report_for({}, "one-se")  # recipes made before the head option recorded none: [CLS]
    assert "one-logit head on [CLS] and the pooler" in older and "the one-standard-error of 2 weights" in older
