"""The stage-1 performance benchmark runs end to end at toy sizes and writes its results (no timings asserted)."""

from __future__ import annotations

import json

import pytest

from benchmarks.perf_stage1 import main
from retrieval.onnx_forward import onnx_available


def test_perf_stage1_runs_every_section_at_toy_sizes(tiny_encoder_path, shared_dir, tmp_path):
    scifact = shared_dir / "datasets" / "scifact"
    if not (scifact / "corpus.jsonl").exists():
        pytest.skip("SciFact not in the shared folder")
    out = tmp_path / "perf"
    code = main(
        [
            "--model", str(tiny_encoder_path), "--dataset", str(scifact), "--docs", "24", "--queries", "4",
            "--repeats", "1", "--budgets", "256,1024", "--bulk-threads", "1", "--bulk-docs", "24", "--precision-docs", "400",
            "--thread-tokens", "8,64", "--peak-n", "256", "--vectors", "3000", "--faiss-queries", "20",
            "--ivf", "IVF8,Flat;IVF8,PQ8np,RFlat", "--nprobe", "1,8", "--train", "3000", "--faiss-threads", "1",
            "--out", str(out), "--no-progress",
        ]
    )  # fmt: skip
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["build"]["docs"] == 24 and results["build"]["ratio"] > 0
    for key in ("latency_start", "latency_end"):
        assert results[key]["queries"] == 4 and results[key]["searcher_query"]["n"] == 4
    assert [run["config"] for run in results["bulk"]["runs"]][0].startswith("SentenceTransformer.encode")
    assert all(run["gflop"] > 0 for run in results["bulk"]["runs"])
    faiss = results["faiss"]
    assert [d["data"] for d in faiss["datasets"]] == ["random", "clustered"]
    for data in faiss["datasets"]:
        every_list = data["approximate"][0]["sweep"][-1]  # IVF8,Flat probing all 8 lists is exact search
        assert every_list["nprobe"] == 8 and every_list["recall_at_10"] == 1.0
        assert data["approximate"][1]["k_factor"] == 8
    assert all(shape[1] in (3000, 3048) for shape in faiss["checks"].values())
    assert "## Bulk encoding" in (out / "report.md").read_text()
    precision = results["precision"]
    assert precision["docs"] == 400 and set(precision["runs"]) == {
        "fp32", "bf16", "packed fp32", "packed bf16", "packed int8"
    }
    assert 0 < precision["max_abs_diff"] < 0.05 and precision["speedup_bf16"] > 0
    assert precision["runs"]["packed fp32"]["ndcg@10"] == pytest.approx(precision["runs"]["fp32"]["ndcg@10"], abs=1e-3)
    assert {r["backend"] for r in results["bulk"]["runs"]} >= {"torch", "packed"}
    ratios = json.loads((out / "ratios.json").read_text())
    assert ratios["single_query_p50_ms"] == results["latency_end"]["searcher_query"]["p50_ms"]
    latency = results["latency_end"]
    assert latency["searcher_query_torch"]["n"] == 4 and ratios["single_query_backend"] == "auto"
    assert latency["small_batches_on_onnx"] == onnx_available() == ("encode_query_onnx_all_threads" in latency)
    assert 0 < ratios["encode_fraction_of_peak"] and results["model"]["note"].startswith("given ")
    assert ratios["encode_fraction_of_peak_packed"] > 0 and ratios["bulk_speedup_packed_bf16"] > 0
    assert ratios["bulk_speedup_int8"] == precision["speedup_packed_int8"] > 0
    assert ratios["bulk_ndcg_delta_int8"] == precision["ndcg_delta_packed_int8"]


def test_perf_stage1_refuses_unknown_sections(capsys):
    assert main(["--sections", "build,warp"]) == 2
    assert "warp" in capsys.readouterr().err


def test_speed_benchmarks_default_to_the_packaged_minilm(tmp_path, tokenizer_dir):
    """Real weights by default (the packaged model when installed), its one-logit cross-encoder shape for stage 2."""
    from importlib.util import find_spec

    from benchmarks.perf.models import MINILM, default_bi_encoder, default_cross_encoder
    from retrieval.pretrained import identify_model

    if find_spec("all_minilm_l6_v2") is None:
        pytest.skip("the models extra is not installed")
    path, note = default_bi_encoder(tokenizer_dir, tmp_path, 256)
    assert identify_model(path) is not None and note.startswith(MINILM)
    ce_path, ce_note = default_cross_encoder(tokenizer_dir, tmp_path)
    config = json.loads((ce_path / "config.json").read_text())
    assert config["num_hidden_layers"] == 6 and config["hidden_size"] == 384 and "untrained" in ce_note
