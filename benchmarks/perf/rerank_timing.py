"""Stage-2 timings: BM25 candidates, the naive ``CrossEncoder.predict`` loop against the reranker, int8 agreement.

The functions of ``python -m benchmarks.perf_rerank``: each times or scores the same candidate
lists for every method, so the ratios come from one run on the same load.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "NOT_OFFERED",
    "pairs_only",
    "bm25_candidates",
    "build_random_cross_encoder",
    "int8_quality",
    "method_table",
    "peak_gflops",
    "time_latency",
    "time_throughput",
    "trained_model_quality",
]


# (backend, precision) pairs the reranker refuses (`rerank.cross_encoder.CrossEncoderReranker`).
NOT_OFFERED = {("onnx", "bf16"), ("openvino", "int8")}


def build_random_cross_encoder(tokenizer: Path, out: Path) -> Path:
    """A MiniLM-L6-H384-shaped BERT classifier (one logit) with random weights, spread by ``init_std`` 0.1."""
    from rerank.train.scratch import random_cross_encoder
    from retrieval.train.scratch import MINILM_L6_SHAPE

    return random_cross_encoder(tokenizer, out, MINILM_L6_SHAPE, num_labels=1, max_length=512, init_std=0.1)


def pairs_only(reranker: Any) -> Any:
    """`reranker` scoring each pair alone: a trained model's calibrated stage-1 fusion switched off.

    Its weight was fitted on the dense stage 1's scores; the candidates here come from BM25, whose
    scores are on another scale. Timing and the backends' agreement are about the pair scores.
    """
    reranker.stage1_weight = 0.0
    reranker.sentence_weight = 0.0
    return reranker


def bm25_candidates(dataset: Any, qids: Sequence[str], depth: int) -> dict[str, list[Any]]:
    """BM25's top `depth` documents per query, as stage-1 `Hit`s."""
    from benchmarks.bm25 import BM25Retriever
    from retrieval.types import Hit

    docs = {d.doc_id: d for d in dataset.corpus}
    run = BM25Retriever(dataset.corpus).search({q: dataset.queries[q] for q in qids}, k=depth)
    return {
        q: [Hit(d, s, r, docs[d].title, docs[d].text, {}, s, r) for r, (d, s) in enumerate(run[q].items(), start=1)]
        for q in qids
    }


def peak_gflops(n: int) -> float:
    """The n x n x n matmul peak (`benchmarks.peak`), best of 3, rounded to 0.1 GFLOP/s."""
    from benchmarks.peak import matmul_peak_gflops

    return round(matmul_peak_gflops(n=n, repeats=3), 1)


def _naive_scores(model: Any, query: str, hits: Sequence[Any]) -> np.ndarray:
    """The loop users write: ``CrossEncoder.predict`` over one query's pairs, batches of 32."""
    from retrieval.encoder import document_text

    return model.predict([(query, document_text(h)) for h in hits], batch_size=32, show_progress_bar=False)


def time_throughput(
    model: Any, rerankers: dict[str, Any], qids: list[str], queries: dict, cands: dict, chunk: int, peak_n: int,
    show_progress: bool = True,
) -> dict:
    """Seconds and scores of the naive loop and of each reranker over the same pairs, `chunk` queries per call.

    Chunks alternate which method runs first; the matmul peak is measured once halfway.
    """
    from tqdm.auto import tqdm

    seconds = {"naive": 0.0, **{name: 0.0 for name in rerankers}}
    scores: dict[str, dict[str, np.ndarray]] = {name: {} for name in seconds}
    peaks = []
    chunks = [qids[i : i + chunk] for i in range(0, len(qids), chunk)]
    for c, part in enumerate(tqdm(chunks, desc="throughput chunks", disable=not show_progress)):
        order = ["naive", *rerankers] if c % 2 == 0 else ["naive", *rerankers][::-1]
        for name in order:
            start = time.perf_counter()
            if name == "naive":
                for q in part:
                    scores[name][q] = _naive_scores(model, queries[q], cands[q])
            else:
                rows = rerankers[name].score([queries[q] for q in part], [cands[q] for q in part])
                scores[name].update(zip(part, rows))
            seconds[name] += time.perf_counter() - start
        if c == len(chunks) // 2:
            peaks.append(peak_gflops(peak_n))
    return {"seconds": seconds, "scores": scores, "peaks": peaks}


def time_latency(
    model: Any, rerankers: dict[str, Any], qids: list[str], queries: dict, cands: dict, depths: list[int]
) -> dict:
    """Median ms per query (one query per call) of the naive loop and each reranker, per candidate depth."""
    out: dict[str, dict[str, float]] = {}
    for depth in depths:
        times: dict[str, list[float]] = {"naive": [], **{name: [] for name in rerankers}}
        for i, q in enumerate(qids):
            hits = cands[q][:depth]
            names = list(times) if i % 2 == 0 else list(times)[::-1]
            for name in names:
                start = time.perf_counter()
                if name == "naive":
                    _naive_scores(model, queries[q], hits)
                else:
                    rerankers[name].score([queries[q]], [hits])
                times[name].append(time.perf_counter() - start)
        out[str(depth)] = {name: round(1000 * float(np.median(t)), 1) for name, t in times.items()}
    return out


def _rankings(scores: dict[str, np.ndarray], cands: dict[str, list[Any]]) -> dict[str, dict[str, float]]:
    return {q: {h.doc_id: float(s) for h, s in zip(cands[q], row)} for q, row in scores.items()}


def _agreement(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, float]:
    """Mean Kendall tau and top-10 overlap of two scorings of the same candidates."""
    from scipy.stats import kendalltau

    taus, overlaps = [], []
    for q in a:
        taus.append(kendalltau(a[q], b[q]).statistic)
        top_a, top_b = set(np.argsort(-a[q])[:10]), set(np.argsort(-b[q])[:10])
        overlaps.append(len(top_a & top_b) / 10)
    return {"kendall_tau": round(float(np.mean(taus)), 4), "top10_overlap": round(float(np.mean(overlaps)), 4)}


def int8_quality(scores: dict[str, dict[str, np.ndarray]], cands: dict, qrels: dict) -> dict[str, Any]:
    """nDCG@10 of BM25 and of each method's ranking; int8 against fp32: Kendall tau, top-10 overlap, nDCG change."""
    from benchmarks.metrics import evaluate

    qids = list(scores["fp32"])
    judged = {q: qrels[q] for q in qids}
    bm25 = {q: {h.doc_id: float(h.stage1_score) for h in cands[q]} for q in qids}
    ndcg = {"bm25": round(evaluate(judged, bm25, ["ndcg@10"])["ndcg@10"], 4)}
    out: dict[str, Any] = {"queries": len(qids), "ndcg@10": ndcg}
    for name, by_query in scores.items():
        out["ndcg@10"][name] = round(evaluate(judged, _rankings(by_query, cands), ["ndcg@10"])["ndcg@10"], 4)
    out["vs_fp32"] = {
        name: {
            **_agreement(scores["fp32"], by_query),
            "ndcg_delta": round(out["ndcg@10"][name] - out["ndcg@10"]["fp32"], 4),
        }
        for name, by_query in scores.items()
        if name not in ("fp32", "naive")
    }
    if "int8" in scores:
        out["int8_vs_fp32"] = {k: v for k, v in out["vs_fp32"]["int8"].items() if k != "ndcg_delta"}
        out["ndcg_delta"] = out["vs_fp32"]["int8"]["ndcg_delta"]
    return out


def trained_model_quality(
    path: Path, dataset: Any, n: int, depth: int, seed: int, backends: Sequence[str] = (),
    precisions: Sequence[str] = ("int8",), show_progress: bool = True,
) -> dict[str, Any]:
    """`int8_quality` of a trained cross-encoder on `n` sampled queries (0: all), BM25 top `depth`.

    fp32 and each of `precisions` on the default backend, and each of them that a backend offers on
    each of `backends` (their fp32 gives the default's scores within float rounding, which the
    throughput table's max abs diff shows).
    """
    from benchmarks.collection import sample_queries
    from rerank.cross_encoder import CrossEncoderReranker

    ds = sample_queries(dataset, n or None, seed=seed)
    qids = sorted(ds.queries)
    cands = bm25_candidates(dataset, qids, depth)
    variants = [("fp32", "auto", "fp32")] + [(p, "auto", p) for p in precisions]
    for backend in backends:
        variants += [(f"{backend} {p}", backend, p) for p in precisions if (backend, p) not in NOT_OFFERED]
    scores = {}
    for name, backend, precision in variants:
        reranker = pairs_only(
            CrossEncoderReranker.load(
                str(path), device="cpu", backend=backend, precision=precision, show_progress=show_progress
            )
        )
        scores[name] = dict(zip(qids, reranker.score([ds.queries[q] for q in qids], [cands[q] for q in qids])))
    return {"model": str(path), **int8_quality(scores, cands, dataset.qrels)}


def method_table(
    raw: dict, qids: Sequence[str], pairs: int, dense: float, attention: float, peak: float, useful_share: float = 1.0
) -> dict[str, dict[str, float]]:
    """Per method of a `time_throughput` result: seconds, pairs/s, speed-up, GFLOP/s, % of peak, max |score - naive|.

    ``gflops_useful`` and ``pct_peak`` count the useful dense work only: `dense` (real tokens, no
    padding) times `useful_share`, the part of it a forward needs for the score (the last layer only
    for the token that is scored, `benchmarks.perf.flops.executed_dense_share`). The same work for
    every method, so no method exceeds the peak by skipping work the others do.
    """
    naive_scores = np.concatenate([raw["scores"]["naive"][q] for q in qids])
    methods = {}
    for name, secs in raw["seconds"].items():
        got = np.concatenate([raw["scores"][name][q] for q in qids])
        methods[name] = {
            "seconds": round(secs, 2),
            "pairs_per_s": round(pairs / secs, 3),
            "speedup": round(raw["seconds"]["naive"] / secs, 3),
            "gflops_dense": round(dense / secs / 1e9, 1),
            "gflops_useful": round(dense * useful_share / secs / 1e9, 1),
            "gflops_total": round((dense + attention) / secs / 1e9, 1),
            "pct_peak": round(100 * dense * useful_share / secs / 1e9 / peak, 1),
            "max_abs_diff": float(np.abs(got - naive_scores).max()),
        }
    return methods
