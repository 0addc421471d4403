"""Ad hoc: OpenVINO's precisions for a cross-encoder, against the naive CrossEncoder.predict loop.

Not part of the project's code (the product's OpenVINO backend is `retrieval/openvino_forward.py`,
fp32 and bf16); this records why int8 is not offered there. Needs `pip install openvino nncf`
(with `-c constraints.txt`). Every variant scores the same pairs: 8 SciFact test queries x BM25 top 100,
batches of 32 per query, the cross-encoder alone; Kendall tau and max |probability difference| are
against the naive loop (torch fp32). Each is timed once after a warm-up run.

    python docs/experiments/openvino_rerank.py <cross-encoder folder> [scifact folder]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau


def main() -> None:
    import nncf
    import openvino as ov
    from sentence_transformers import CrossEncoder

    from benchmarks.collection import load_beir, sample_queries
    from benchmarks.perf.rerank_timing import bm25_candidates
    from retrieval.encoder import document_text
    from retrieval.onnx_forward import export_onnx

    model = CrossEncoder(sys.argv[1], device="cpu").eval()
    dataset = load_beir(Path(sys.argv[2] if len(sys.argv) > 2 else "../shared/datasets/scifact"))
    test = sample_queries(dataset, 8, seed=0)
    qids = sorted(test.queries)
    candidates = bm25_candidates(dataset, qids, 100)
    pairs = {q: [(test.queries[q], document_text(h)) for h in candidates[q]] for q in qids}
    path, names = export_onnx(model, "scores", tempfile.mkdtemp())
    core = ov.Core()

    def batches(q: str) -> list[dict]:
        return [model.preprocess(pairs[q][i : i + 32]) for i in range(0, len(pairs[q]), 32)]

    def naive() -> dict[str, np.ndarray]:
        return {q: model.predict(pairs[q], batch_size=32, show_progress_bar=False) for q in qids}

    def on(compiled) -> dict[str, np.ndarray]:
        out = {}
        for q in qids:
            rows = [np.asarray(compiled({n: np.asarray(f[n]) for n in names})[0]).reshape(-1) for f in batches(q)]
            out[q] = 1 / (1 + np.exp(-np.concatenate(rows)))
        return out

    def timed(fn) -> tuple[float, dict]:
        fn()
        start = time.perf_counter()
        out = fn()
        return time.perf_counter() - start, out

    base, reference = timed(naive)
    print(f"naive CrossEncoder.predict: {base:.2f} s")
    read = lambda: core.read_model(str(path))  # noqa: E731
    calibration = [{n: np.asarray(f[n]) for n in names} for q in qids[:4] for f in batches(q)]
    static = nncf.quantize(read(), nncf.Dataset(calibration), model_type=nncf.ModelType.TRANSFORMER,
                           subset_size=len(calibration))
    weights = nncf.compress_weights(read())
    variants = {
        "fp32": (read(), "f32"), "bf16": (read(), "bf16"),
        "int8 weights (data-free), f32 compute": (weights, "f32"),
        "int8 weights (data-free), bf16 compute": (weights, "bf16"),
        "int8 static (NNCF), f32 rest": (static, "f32"), "int8 static (NNCF), bf16 rest": (static, "bf16"),
    }
    for name, (graph, hint) in variants.items():
        compiled = core.compile_model(graph, "CPU", {"INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": 2})
        seconds, got = timed(lambda: on(compiled))
        diff = max(float(np.abs(got[q] - reference[q]).max()) for q in qids)
        tau = float(np.mean([kendalltau(got[q], reference[q])[0] for q in qids]))
        print(f"openvino {name}: {seconds:.2f} s, {base / seconds:.2f}x naive, max diff {diff:.1e}, tau {tau:.4f}")


if __name__ == "__main__":
    main()
