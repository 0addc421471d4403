"""Ad hoc: bulk encoding of the SciFact corpus with all-MiniLM-L6-v2 in fp32, int8 and bf16.

The project's `Encoder` on torch (the bulk path); int8 is torch's dynamic quantisation of every linear
layer (weights per tensor, activations per batch) with weights packed for the oneDNN engine (AMX on this
CPU) and for torch's default x86 engine (fbgemm); bf16 converts the model. Each variant encodes the
whole corpus, then the 300 test queries are searched exactly and scored with ranx (nDCG@10).
Not part of the project's code; docs/speed.md quotes its output.

    python docs/experiments/int8_bulk_encode.py   (needs the models extra; ../shared beside the repo)
"""

from __future__ import annotations

import time
import warnings

import numpy as np


def main() -> None:
    import torch
    from ranx import Qrels, Run, evaluate

    from benchmarks.collection import load_beir
    from benchmarks.paths import shared_dir
    from retrieval.cpu import quantized_engine
    from retrieval.encoder import Encoder

    warnings.simplefilter("ignore")
    data = load_beir(shared_dir() / "datasets" / "scifact")
    docs, qids = data.corpus, list(data.queries)
    qrels = Qrels({q: {d: int(g) for d, g in rels.items()} for q, rels in data.qrels.items()})

    def int8(engine: str):
        def prepare(encoder: Encoder) -> None:
            with quantized_engine(engine):
                torch.ao.quantization.quantize_dynamic(encoder.model, {torch.nn.Linear}, inplace=True)
        return prepare

    variants = {
        "fp32": lambda encoder: None,
        "int8 (oneDNN engine)": int8("onednn"),
        "int8 (x86 engine, fbgemm)": int8("x86"),
        "bf16": lambda encoder: encoder.model.to(torch.bfloat16),
    }
    results = {}
    for name, prepare in variants.items():
        encoder = Encoder.load("sentence-transformers/all-MiniLM-L6-v2", backend="torch")
        prepare(encoder)
        encoder.encode_documents(docs[:64], show_progress=False)  # warm-up
        start = time.perf_counter()
        vectors = encoder.encode_documents(docs, show_progress=False)
        seconds = time.perf_counter() - start
        scores = encoder.encode_queries([data.queries[q] for q in qids]) @ vectors.T
        top = np.argsort(-scores, axis=1)[:, :100]
        run = Run({q: {docs[j].doc_id: float(scores[i, j]) for j in top[i]} for i, q in enumerate(qids)})
        results[name] = (seconds, float(evaluate(qrels, run, "ndcg@10")), vectors)
    fp32_seconds, fp32_ndcg, fp32_vectors = results["fp32"]
    for name, (seconds, ndcg, vectors) in results.items():
        print(
            f"{name:28s} {seconds:7.1f} s {len(docs) / seconds:6.1f} docs/s {fp32_seconds / seconds:5.2f}x fp32 "
            f"nDCG@10 {ndcg:.4f} ({ndcg - fp32_ndcg:+.4f}) max |vector diff| {np.abs(vectors - fp32_vectors).max():.3g}"
        )


if __name__ == "__main__":
    main()
