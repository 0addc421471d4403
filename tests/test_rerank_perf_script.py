"""The stage-2 speed benchmark runs end to end on a tiny model and writes its results (not timed)."""

from __future__ import annotations

import json

from rerank.train.scratch import random_cross_encoder
from benchmarks.perf.rerank_timing import NOT_OFFERED
from retrieval.onnx_forward import onnx_available
from retrieval.openvino_forward import openvino_available


def test_perf_rerank_writes_results(shared_dir, tokenizer_dir, tmp_path, capsys):
    from benchmarks.perf_rerank import main

    model = random_cross_encoder(tokenizer_dir, tmp_path / "ce", max_length=64, init_std=0.3)
    out = tmp_path / "out"
    rc = main(["--model", str(model), "--queries", "2", "--candidates", "6", "--chunk", "1", "--latency-depths", "3,6",
               "--latency-queries", "1", "--docs", "400", "--peak-size", "256", "--out", str(out),
               "--quality-model", str(model), "--quality-queries", "2", "--quality-depth", "3", "--no-progress"])
    assert rc == 0
    result = json.loads((out / "results.json").read_text())
    methods = result["throughput"]["methods"]
    backends = ["torch"] + ["onnx"] * onnx_available() + ["openvino"] * openvino_available()
    extra = {f"{b} {p}" for b in backends for p in ("fp32", "int8", "bf16") if (b, p) not in NOT_OFFERED}
    assert set(methods) == {"naive", "fp32", "int8", "bf16", *extra} and result["throughput"]["pairs"] == 12
    for name in ("fp32", *(f"{b} fp32" for b in backends)):
        assert methods[name]["max_abs_diff"] <= 1e-4, name  # the same scores as the naive loop
    assert set(result["quality"]["vs_fp32"]) == {"int8", "bf16", *extra}
    # The trained-model check scores every reduced precision each backend offers (fp32 paths agree exactly).
    reduced = {name for name in extra if not name.endswith("fp32")}
    assert set(result["model_quality"]["vs_fp32"]) == {"int8", "bf16", *reduced}
    assert 0 < methods["bf16"]["max_abs_diff"] < 0.05  # really bfloat16, and close
    assert methods["naive"]["speedup"] == 1.0 and all(m["pairs_per_s"] > 0 for m in methods.values())
    assert set(result["latency"]) == {"3", "6"} and len(result["peaks"]) >= 2
    assert 0 <= result["quality"]["int8_vs_fp32"]["top10_overlap"] <= 1
    ratios = json.loads((out / "ratios.json").read_text())
    assert ratios["speedup_fp32"] == methods["fp32"]["speedup"] and ratios["ndcg_delta_int8"] is not None
    assert ratios["best_int8"] is None or "int8" in ratios["best_int8"]
    assert ratios["default_choice"] is not None  # fp32 always qualifies: its own agreement is exact
    assert ratios["speedup_torch_fp32"] == methods["torch fp32"]["speedup"]
    share = result["executed_dense_share"]  # useful work: the same for every method, never the nominal
    for m in methods.values():
        assert abs(m["gflops_useful"] - m["gflops_dense"] * share) <= 0.1 + 1e-9
    report = (out / "report.md").read_text()
    assert "| fp32 |" in report and "| torch int8 |" in report and "Kendall tau vs fp32" in report and "python -m benchmarks.perf_rerank --model" in report
    printed = capsys.readouterr()
    assert "Stage-2 reranking speed" in printed.out
    assert "throughput chunks" not in printed.err and "rerank batches" not in printed.err  # --no-progress
