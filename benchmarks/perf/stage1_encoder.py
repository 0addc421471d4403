"""Stage-1 sections on the encoder: build overhead, single-query latency, threads per forward pass.

Each section takes a loaded `retrieval.Encoder` and returns a JSON-ready dict with the load
averages beside its timings; ``python -m benchmarks.perf_stage1`` runs them and writes the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from benchmarks.perf.measure import FaissThreads, load_summary, ms_summary, timed

__all__ = ["section_build", "section_latency", "section_threads"]


def section_build(encoder: Any, corpus: list[dict[str, Any]], repeats: int) -> dict[str, Any]:
    """Encoder docs/s and build_index docs/s on the same documents, runs interleaved, best of each."""
    from indexes import read_corpus
    from retrieval.indexing import build_index

    docs = read_corpus(corpus)
    encoder.encode_documents(docs[:32], show_progress=False)  # warm-up
    encode, build = [], []
    for _ in range(max(1, repeats)):
        encode.append(timed(lambda: encoder.encode_documents(docs, show_progress=False)))
        build.append(timed(lambda: build_index(corpus, encoder, "Flat", use_gpu=False, show_progress=False)))
    n = len(docs)
    encoder_dps, build_dps = n / min(w for w, _ in encode), n / min(w for w, _ in build)
    cpu_ratio = min(c for _, c in encode) / min(c for _, c in build)
    return {
        "docs": n,
        "encoder_docs_per_s": round(encoder_dps, 2),
        "build_index_docs_per_s": round(build_dps, 2),
        "ratio": round(build_dps / encoder_dps, 3),
        "cpu_ratio": round(cpu_ratio, 3),
        "target_ratio": 0.9,
        "encode_wall_cpu_s": [[round(w, 3), round(c, 3)] for w, c in encode],
        "build_wall_cpu_s": [[round(w, 3), round(c, 3)] for w, c in build],
        **load_summary(),
    }


def _search_1_thread(index: Any, vectors: np.ndarray) -> Any:
    with FaissThreads(1):
        return index.search(vectors, 10)


def _faiss_1_thread(call: Callable[[str], Any]) -> Callable[[str], Any]:
    def run(q: str) -> Any:
        with FaissThreads(1):
            return call(q)

    return run


def section_latency(encoder: Any, index: Any, queries: list[str]) -> dict[str, Any]:
    """Per-query wall and CPU time, the calls interleaved query by query so they share the same load."""
    import torch

    from retrieval.encoder import Encoder
    from retrieval.onnx_forward import onnx_available, unsupported_reason
    from retrieval.openvino_forward import openvino_available
    from retrieval.packed_forward import bi_encoder_parts
    from retrieval.searcher import Searcher

    searcher = Searcher(index, encoder=encoder)

    def variant(**options: Any) -> Encoder:
        return Encoder(encoder.model, encoder.name, batch_size=encoder.batch_size, **options)

    on_torch = variant(backend="torch")
    torch_searcher = Searcher(index, encoder=on_torch)
    torch_1 = variant(backend="torch", small_batch_threads=1)
    can_onnx = onnx_available() and unsupported_reason(encoder.model) is None
    onnx_1 = variant(backend="onnx", small_batch_threads=1) if can_onnx else None
    onnx_all = variant(backend="onnx") if can_onnx else None
    can_openvino = openvino_available() and unsupported_reason(encoder.model) is None
    openvino_all = variant(backend="openvino") if can_openvino else None
    packed = variant(backend="packed") if not isinstance(bi_encoder_parts(encoder.model), str) else None
    model = encoder.model
    vectors = {q: encoder.encode_queries([q]) for q in queries}
    calls: dict[str, Callable[[str], Any]] = {
        "searcher_query": lambda q: searcher.query(q, k=10),
        "searcher_query_torch": lambda q: torch_searcher.query(q, k=10),
        "encode_then_search_faiss_1_thread": lambda q: _search_1_thread(index, encoder.encode_queries([q])),
        "encode_query": lambda q: encoder.encode_queries([q]),
        "encode_query_torch_1_thread": lambda q: torch_1.encode_queries([q]),
        "encode_query_torch_all_threads": lambda q: on_torch.encode_queries([q]),
        "sentence_transformer_encode": lambda q: model.encode([q]),
        "index_search": lambda q: index.search(vectors[q], 10),
        "index_search_faiss_1_thread": _faiss_1_thread(lambda q: index.search(vectors[q], 10)),
    }
    if onnx_all is not None:
        calls["encode_query_onnx_1_thread"] = lambda q: onnx_1.encode_queries([q])
        calls["encode_query_onnx_all_threads"] = lambda q: onnx_all.encode_queries([q])
    if openvino_all is not None:
        calls["encode_query_openvino_all_threads"] = lambda q: openvino_all.encode_queries([q])
    if packed is not None:
        calls["encode_query_packed"] = lambda q: packed.encode_queries([q])
    for q in queries[:10]:  # warm-up
        for call in calls.values():
            call(q)
    wall: dict[str, list[float]] = {name: [] for name in calls}
    cpu: dict[str, list[float]] = {name: [] for name in calls}
    before = load_summary()
    for q in queries:
        for name, call in calls.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            call(q)
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    result: dict[str, Any] = {}
    for name in calls:
        result[name] = {**ms_summary(wall[name]), "cpu_p50_ms": round(float(np.median(cpu[name])) * 1e3, 3)}
    result.update(
        queries=len(queries),
        index_docs=len(index),
        torch_threads=torch.get_num_threads(),
        small_batch_threads=encoder.small_batch_threads,
        backend=encoder.backend,
        small_batches_on_onnx=encoder._onnx.get("small") is not None,
        target_p50_ms=10.0,
        load_before=before,
        load_after=load_summary(),
    )
    return result


def section_threads(encoder: Any, tokens: Sequence[int]) -> dict[str, Any]:
    """Best-of forward time for one sequence (up to 256 tokens) or several, 1 thread vs all.

    Also the CPU time of the one-thread pass: what an idle core would take, even on a busy machine.
    """
    import torch

    bert = encoder.model[0].auto_model
    total = torch.get_num_threads()
    rows = []
    for count in tokens:
        seq = min(count, 256)
        batch = max(1, count // seq)
        ids = torch.randint(1000, 20000, (batch, seq))
        mask = torch.ones_like(ids)
        row: dict[str, Any] = {"tokens": batch * seq, "batch": batch, "seq": seq}
        for threads in sorted({1, total}):
            torch.set_num_threads(threads)
            try:
                with torch.inference_mode():
                    bert(input_ids=ids, attention_mask=mask)
                    repeats = max(3, min(30, 4096 // (batch * seq)))
                    timings = [timed(lambda: bert(input_ids=ids, attention_mask=mask)) for _ in range(repeats)]
            finally:
                torch.set_num_threads(total)
            row[f"ms_{threads}_threads"] = round(min(w for w, _ in timings) * 1e3, 3)
            if threads == 1:
                row["cpu_ms_1_thread"] = round(min(c for _, c in timings) * 1e3, 3)
        rows.append(row)
    return {"rows": rows, "all_threads": total, **load_summary()}
