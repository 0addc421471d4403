"""Two-stage search: the Searcher with a cross-encoder reranker, its cut-off, and the command line."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from rerank import CrossEncoderReranker
from rerank.train.scratch import random_cross_encoder
from retrieval import Searcher, build_index, document_text
from retrieval.search import main as search_main

QUERIES = ["protein folding passage", "jazz music", "climate models number 7", "vector search"]


@pytest.fixture(scope="module")
def ce_path(tmp_path_factory, tokenizer_dir):
    return random_cross_encoder(tokenizer_dir, tmp_path_factory.mktemp("ce"), num_labels=1, max_length=64, init_std=0.3)


@pytest.fixture(scope="module")
def reranker(ce_path):
    return CrossEncoderReranker.load(str(ce_path), device="cpu", precision="fp32")  # scores equal to the model's


@pytest.fixture(scope="module")
def corpus():
    topics = ["faiss vector search", "protein folding", "climate models", "football scores", "jazz music"]
    return [
        {"_id": f"d{i}", "title": topics[i % 5], "text": f"passage {i} on {topics[i % 5]} number {i}"}
        for i in range(40)
    ]


@pytest.fixture(scope="module")
def index(tiny_encoder, corpus):
    return build_index(corpus, tiny_encoder, show_progress=False)


@pytest.fixture(scope="module")
def saved_index(index, tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "idx"
    index.save(path)
    return path


def test_reranked_order_is_the_cross_encoders_own_order(index, tiny_encoder, reranker, ce_path):
    from sentence_transformers import CrossEncoder

    plain = Searcher(index, tiny_encoder)
    searcher = Searcher(index, tiny_encoder, reranker=reranker)
    model = CrossEncoder(str(ce_path), device="cpu")
    for query in QUERIES:
        stage1 = plain.query(query, k=15)
        hits = searcher.query(query, k=5, candidates=15)
        own = model.predict([(query, document_text(h)) for h in stage1])  # the model's own scores, users' way
        expected = [stage1[i].doc_id for i in np.argsort(-own, kind="stable")[:5]]
        assert [h.doc_id for h in hits] == expected
        np.testing.assert_allclose([h.score for h in hits], np.sort(own)[::-1][:5], atol=1e-5)
        assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
        by_id = {h.doc_id: h for h in stage1}
        for h in hits:  # both stages' scores and ranks, the dense ones unchanged
            assert (h.stage1_rank, h.stage1_score) == (by_id[h.doc_id].rank, by_id[h.doc_id].score)
            assert (h.title, h.text) == (by_id[h.doc_id].title, by_id[h.doc_id].text)
        assert hits != stage1[:5]  # reranking changed something (else this test proves little)


def test_only_stage1_candidates_are_reranked(index, tiny_encoder, reranker):
    searcher = Searcher(index, tiny_encoder, reranker=reranker)
    plain = Searcher(index, tiny_encoder)
    for query in QUERIES:
        allowed = {h.doc_id for h in plain.query(query, k=8)}
        hits = searcher.query(query, k=8, candidates=8)
        assert {h.doc_id for h in hits} == allowed and reranker.last_stats.pairs == 8
        assert all(h.stage1_rank <= 8 for h in hits)


def test_batch_equals_single_and_reranks_in_one_pass(index, tiny_encoder, reranker):
    searcher = Searcher(index, tiny_encoder, reranker=reranker)
    batch = searcher.query_batch(QUERIES, k=6, candidates=12)
    assert reranker.last_stats.pairs == 12 * len(QUERIES)  # all queries' pairs in one call
    for query, hits in zip(QUERIES, batch):
        single = searcher.query(query, k=6, candidates=12)
        assert [h.doc_id for h in single] == [h.doc_id for h in hits]
        np.testing.assert_allclose([h.score for h in single], [h.score for h in hits], atol=1e-6)


def test_candidates_fewer_than_k_and_more_than_the_corpus(index, tiny_encoder, reranker):
    searcher = Searcher(index, tiny_encoder, reranker=reranker, candidates=3)
    hits = searcher.query("jazz music", k=5)  # the depth is raised to k
    assert len(hits) == 5 and reranker.last_stats.pairs == 5
    assert sorted(h.stage1_rank for h in hits) == [1, 2, 3, 4, 5]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    hits = searcher.query("jazz music", k=10, candidates=1000)  # clamped to the 40 documents
    assert len(hits) == 10 and reranker.last_stats.pairs == len(index)
    everything = searcher.query("jazz music", k=100, candidates=1000)
    assert len(everything) == len(index) and len({h.doc_id for h in everything}) == len(index)
    with pytest.raises(ValueError, match="candidates must be a positive"):
        searcher.query("jazz", candidates=0)


def test_min_score_returns_fewer_hits_or_none(index, tiny_encoder, reranker):
    searcher = Searcher(index, tiny_encoder, reranker=reranker)
    hits = searcher.query("protein folding", k=10, candidates=20)
    cut = (hits[2].score + hits[3].score) / 2
    kept = searcher.query("protein folding", k=10, candidates=20, min_score=cut)
    assert [h.doc_id for h in kept] == [h.doc_id for h in hits[:3]] and all(h.score >= cut for h in kept)
    assert searcher.query("protein folding", k=10, candidates=20, min_score=1.0) == []  # no good answer
    assert len(searcher.query("protein folding", k=10, candidates=20, min_score=0.0)) == 10
    with pytest.raises(ValueError, match="not a probability"):
        searcher.query("protein folding", min_score=2.5)
    with pytest.raises(ValueError, match="no calibrated threshold"):
        searcher.query("protein folding", min_score="calibrated")
    with pytest.raises(ValueError, match="needs a reranker"):
        Searcher(index, tiny_encoder).query("protein folding", min_score="calibrated")
    with pytest.raises(ValueError, match="'calibrated'"):
        searcher.query("protein folding", min_score="best")


def test_calibrated_threshold_is_the_cut_off(index, tiny_encoder, ce_path, tmp_path):
    model = tmp_path / "ce"
    shutil.copytree(ce_path, model)
    reranker = CrossEncoderReranker.load(str(model), device="cpu")
    plain = Searcher(index, tiny_encoder, reranker=reranker)
    scores = [h.score for h in plain.query("jazz music", k=10, candidates=20)]
    threshold = (scores[3] + scores[4]) / 2
    (model / "calibration.json").write_text(json.dumps(
        {"threshold": threshold, "metric": "f1", "thresholds": {"f1": threshold}, "epoch": 1, "activation": "sigmoid"}
    ))
    searcher = Searcher(index, tiny_encoder, reranker=CrossEncoderReranker.load(str(model), device="cpu"))
    hits = searcher.query("jazz music", k=10, candidates=20, min_score="calibrated")
    assert [h.score for h in hits] == pytest.approx(scores[:4], abs=1e-6)


def test_cli_json_hits_carry_both_stages(saved_index, ce_path, capsys):
    rc = search_main(["--index", str(saved_index), "--reranker", str(ce_path), "--candidates", "12", "-k", "4",
                      "--json", "protein folding"])
    assert rc == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 4 and [h["rank"] for h in hits] == [1, 2, 3, 4]
    for h in hits:
        assert {"doc_id", "score", "rank", "stage1_score", "stage1_rank"} <= set(h)
        assert 0.0 <= h["score"] <= 1.0 and 1 <= h["stage1_rank"] <= 12
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    searcher = Searcher(saved_index, reranker=CrossEncoderReranker.load(str(ce_path), device="cpu"))
    assert [h["doc_id"] for h in hits] == [h.doc_id for h in searcher.query("protein folding", k=4, candidates=12)]


def test_cli_text_cut_off_and_errors(saved_index, ce_path, capsys):
    assert search_main(["--index", str(saved_index), "--reranker", str(ce_path), "--min-score", "1", "jazz"]) == 0
    assert "no good answer" in capsys.readouterr().out
    assert search_main(["--index", str(saved_index), "--reranker", str(ce_path), "-k", "3", "jazz"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and "(stage 1: #" in out[0]
    calibrated = ["--index", str(saved_index), "--reranker", str(ce_path), "--min-score", "calibrated", "jazz"]
    assert search_main(calibrated) == 2
    assert "no calibrated threshold" in capsys.readouterr().err
    assert search_main(["--index", str(saved_index), "--reranker", "no-such-org/reranker", "jazz"]) == 2
    assert "cannot load cross-encoder" in capsys.readouterr().err
    assert search_main(["--index", str(saved_index), "--int8", "jazz"]) == 2
    with pytest.raises(SystemExit):
        search_main(["--index", str(saved_index), "--min-score", "high", "jazz"])


def test_cli_reports_truncation_once(saved_index, tokenizer_dir, tmp_path, caplog, capsys):
    short = random_cross_encoder(tokenizer_dir, tmp_path / "short", max_length=12, init_std=0.3)
    with caplog.at_level(logging.WARNING, logger="rerank.cross_encoder"):
        assert search_main(["--index", str(saved_index), "--reranker", str(short), "--candidates", "10", "--json",
                            "protein folding"]) == 0
    records = [r.getMessage() for r in caplog.records if "truncated" in r.getMessage()]
    assert len(records) == 1 and "truncated 10 of 10" in records[0]
    assert len(json.loads(capsys.readouterr().out)) == 10


def test_cli_runs_the_reranker_on_the_backend_asked(saved_index, ce_path, capsys, monkeypatch):
    import rerank.cross_encoder as cross_encoder

    made = []
    real_init = cross_encoder.CrossEncoderReranker.__init__

    def recording_init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        made.append(self.info()["backend"])

    monkeypatch.setattr(cross_encoder.CrossEncoderReranker, "__init__", recording_init)
    base = ["--index", str(saved_index), "--reranker", str(ce_path), "--precision", "fp32", "--json", "protein folding"]
    assert search_main([*base, "--reranker-backend", "torch"]) == 0
    on_torch = [h["doc_id"] for h in json.loads(capsys.readouterr().out)]
    assert search_main([*base, "--reranker-backend", "packed"]) == 0
    packed = [h["doc_id"] for h in json.loads(capsys.readouterr().out)]
    assert made == ["torch", "packed"] and on_torch == packed
    assert search_main(["--index", str(saved_index), "--reranker-backend", "onnx", "jazz"]) == 2  # no reranker
    assert "--reranker-backend" in capsys.readouterr().err


def test_benchmark_config_takes_the_reranker_backend():
    from benchmarks.config import load_config

    assert load_config("scifact", reranker_backend="onnx").reranker_backend == "onnx"
    assert load_config("scifact").reranker_backend == "auto"
    with pytest.raises(ValueError, match="reranker_backend must be one of"):
        load_config("scifact", reranker_backend="tensorrt")
