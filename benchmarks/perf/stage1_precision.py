"""Stage-1 section: bulk encoding in fp32 against bf16 and int8, speed and dense nDCG@10 from the same run.

The whole corpus is encoded with `retrieval.Encoder` (bulk settings) in fp32 and in bf16
(`precision="bf16"`, another copy of the model), on torch and, for a BERT bi-encoder, on the packed
forward (``backend="packed"``, also in ``precision="int8"``); the judged queries with the same encoder each time; exact
inner-product search over the vectors gives each run's nDCG@10 (ranx, `benchmarks.metrics`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.perf.measure import load_summary

__all__ = ["section_precision"]


def _ndcg(encoder: Any, dataset: Any, vectors: np.ndarray, depth: int = 100) -> float:
    from benchmarks.metrics import evaluate

    qids = sorted(dataset.qrels)
    scores = encoder.encode_queries([dataset.queries[q] for q in qids]) @ vectors.T
    top = np.argsort(-scores, axis=1)[:, :depth]
    ids = [d.doc_id for d in dataset.corpus]
    run = {q: {ids[j]: float(scores[i, j]) for j in top[i]} for i, q in enumerate(qids)}
    return round(evaluate({q: dataset.qrels[q] for q in qids}, run, ["ndcg@10"])["ndcg@10"], 4)


def section_precision(model_path: Path, dataset: Any) -> dict[str, Any]:
    """docs/s and nDCG@10 of fp32 and bf16 bulk encoding of `dataset` (a `benchmarks.collection.Dataset`),
    on torch and, where the model is a BERT bi-encoder, on the packed forward (``backend="packed"``, fp32,
    bf16 and int8)."""
    from retrieval.encoder import BULK_ENCODING, Encoder
    from retrieval.packed_forward import bi_encoder_parts

    rows: dict[str, dict[str, Any]] = {}
    vectors = {}
    variants = [("torch", "fp32"), ("torch", "bf16"), ("packed", "fp32"), ("packed", "bf16"), ("packed", "int8")]
    bert = None  # whether the packed forward runs the model: read off the first (torch fp32) encoder
    for backend, precision in variants:
        if backend == "packed" and not bert:
            continue  # not a BERT bi-encoder: torch only
        encoder = Encoder.load(
            str(model_path), device="cpu", backend=backend, batch_size=128, precision=precision, **BULK_ENCODING
        )
        if bert is None:
            bert = not isinstance(bi_encoder_parts(encoder.model), str)
        name = precision if backend == "torch" else f"packed {precision}"
        encoder.encode_documents(dataset.corpus[:16], show_progress=False)  # warm-up
        start = time.perf_counter()
        vectors[name] = encoder.encode_documents(dataset.corpus, show_progress=False)
        seconds = time.perf_counter() - start
        rows[name] = {
            "seconds": round(seconds, 2),
            "docs_per_s": round(len(dataset.corpus) / seconds, 2),
            "ndcg@10": _ndcg(encoder, dataset, vectors[name]),
        }
    packed: dict[str, float] = {}
    for name in (n for n in rows if n.startswith("packed")):  # against torch fp32, the default
        key = name.replace(" ", "_")
        packed[f"speedup_{key}"] = round(rows["fp32"]["seconds"] / rows[name]["seconds"], 3)
        packed[f"ndcg_delta_{key}"] = round(rows[name]["ndcg@10"] - rows["fp32"]["ndcg@10"], 4)
    return {
        "docs": len(dataset.corpus),
        "queries": len(dataset.qrels),
        "runs": rows,
        "speedup_bf16": round(rows["fp32"]["seconds"] / rows["bf16"]["seconds"], 3),
        "ndcg_delta_bf16": round(rows["bf16"]["ndcg@10"] - rows["fp32"]["ndcg@10"], 4),
        "max_abs_diff": float(np.abs(vectors["bf16"] - vectors["fp32"]).max()),
        **packed,
        **load_summary(),
    }
