"""Stage-1 section: FAISS search over synthetic 384-d unit vectors, exact and approximate.

Flat search (through the project's `VectorIndex`) over ``random`` (uniform on the sphere) and
``clustered`` (noisy copies of random centres) vectors: ms/query single and batched. Then each
approximate factory (IVF-PQ, and IVF-PQ re-scored exactly with RFlat): recall@10 against exact
search and speed-up per nprobe. Also checks k above the corpus size and above the FAISS GPU limit.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.latency import time_calls
from benchmarks.perf.measure import FaissThreads, load_summary, ms_summary

__all__ = ["section_faiss"]


def _unit_rows(block: np.ndarray) -> np.ndarray:
    return block / np.linalg.norm(block, axis=1, keepdims=True)


def _synthetic(kind: str, n: int, dim: int, seed: int, centers: int = 10_000, chunk: int = 100_000) -> np.ndarray:
    """Unit vectors: ``random`` (uniform on the sphere) or ``clustered`` (noisy copies of random centres)."""
    rng = np.random.default_rng(seed)
    middle = _unit_rows(np.random.default_rng(12345).standard_normal((centers, dim), dtype=np.float32))
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        block = rng.standard_normal((size, dim), dtype=np.float32)
        if kind == "clustered":  # noise of norm ~0.7 around a unit centre
            block = middle[rng.integers(0, centers, size)] + block * np.float32(0.7 / np.sqrt(dim))
        out[start : start + size] = _unit_rows(block)
    return out


def _single_ms(search: Callable[[np.ndarray], Any], queries: np.ndarray) -> dict[str, float]:
    """One query per call, after one untimed call."""
    return ms_summary(time_calls(lambda q: search(q[None, :]), list(queries)))


def _batched_ms(search: Callable[[np.ndarray], Any], queries: np.ndarray) -> tuple[float, Any]:
    start = time.perf_counter()
    found = search(queries)
    return (time.perf_counter() - start) * 1e3 / len(queries), found


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(f) & set(t)) / k for f, t in zip(found, truth)]))


def _faiss_dataset(args: argparse.Namespace, kind: str, dim: int, k: int) -> dict[str, Any]:
    import faiss
    from tqdm.auto import tqdm

    from indexes.vectors import VectorIndex

    n, nq = args.vectors, args.faiss_queries
    vectors = _synthetic(kind, n, dim, seed=0)
    queries = _synthetic(kind, nq, dim, seed=1)
    singles = queries[: min(nq, 100)]
    flat = VectorIndex(dim, "Flat", "ip", use_gpu=False)
    flat.add(vectors, np.arange(n, dtype=np.int64))
    flat_batch_ms, (_, truth) = _batched_ms(lambda x: flat.search(x, k), queries)
    flat_single = _single_ms(lambda x: flat.search(x, k), singles)
    with FaissThreads(1):
        flat_single_1 = _single_ms(lambda x: flat.search(x, k), singles)
    print(f"  {kind}: flat batched {flat_batch_ms:.3f} ms/q, single p50 {flat_single['p50_ms']} ms", file=sys.stderr)
    result: dict[str, Any] = {
        "data": kind,
        "flat_batched_ms_per_query": round(flat_batch_ms, 4),
        "flat_single": flat_single,
        "flat_single_faiss_1_thread": flat_single_1,
        "approximate": [],
        **load_summary(),
    }
    del flat
    sample = vectors[np.random.default_rng(2).choice(n, size=min(args.train, n), replace=False)]
    for factory in [f.strip() for f in args.ivf.split(";") if f.strip()]:
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        start = time.perf_counter()
        index.train(sample)
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        for lo in tqdm(range(0, n, 100_000), desc=f"{kind} {factory} add", file=sys.stderr):
            index.add(vectors[lo : lo + 100_000])
        add_s = time.perf_counter() - start
        print(f"  {kind} {factory}: train {train_s:.1f} s, add {add_s:.1f} s", file=sys.stderr)
        params = faiss.ParameterSpace()
        refine = "RFlat" in factory or "Refine" in factory
        if refine:
            params.set_index_parameter(index, "k_factor_rf", args.k_factor)
        sweep = []
        for nprobe in (int(p) for p in args.nprobe.split(",")):
            params.set_index_parameter(index, "nprobe", nprobe)
            batch_ms, (_, found) = _batched_ms(lambda x: index.search(x, k), queries)
            with FaissThreads(1):
                single = _single_ms(lambda x: index.search(x, k), singles)
            recall = _recall(found, truth)
            sweep.append(
                {
                    "nprobe": nprobe,
                    "recall_at_10": round(recall, 4),
                    "batched_ms_per_query": round(batch_ms, 4),
                    "speedup_batched": round(flat_batch_ms / batch_ms, 2),
                    "single_p50_ms_faiss_1_thread": single["p50_ms"],
                    "speedup_single": round(flat_single_1["p50_ms"] / single["p50_ms"], 2),
                }
            )
            print(f"  {kind} {factory} nprobe={nprobe}: recall@10 {recall:.3f}", file=sys.stderr)
        result["approximate"].append(
            {
                "factory": factory,
                "k_factor": args.k_factor if refine else None,
                "train_vectors": len(sample),
                "train_s": round(train_s, 1),
                "add_s": round(add_s, 1),
                "sweep": sweep,
            }
        )
        del index
    return result


def section_faiss(args: argparse.Namespace, dim: int = 384, k: int = 10) -> dict[str, Any]:
    """Flat (through the project's VectorIndex) and IVF-PQ over synthetic unit vectors, inner product."""
    import faiss

    from indexes.vectors import GPU_MAX_K, VectorIndex

    small = VectorIndex(dim, "Flat", "ip", use_gpu=False)
    rows = _synthetic("random", GPU_MAX_K + 1000, dim, seed=3)
    small.add(rows, np.arange(len(rows), dtype=np.int64))
    _, big_ids = small.search(rows[:2], GPU_MAX_K + 952)
    _, all_ids = small.search(rows[:2], 10 * len(rows))
    checks = {
        f"k={GPU_MAX_K + 952} (above the FAISS GPU limit {GPU_MAX_K}) on {len(rows)} vectors returns": list(big_ids.shape),
        f"k={10 * len(rows)} (above the corpus size {len(rows)}) returns": list(all_ids.shape),
    }
    datasets = [_faiss_dataset(args, kind.strip(), dim, k) for kind in args.data.split(",") if kind.strip()]
    return {
        "vectors": args.vectors,
        "dim": dim,
        "queries": args.faiss_queries,
        "k": k,
        "faiss_threads": faiss.omp_get_max_threads(),
        "checks": checks,
        "datasets": datasets,
    }
