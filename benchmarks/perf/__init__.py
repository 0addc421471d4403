"""The speed benchmarks' parts; the commands are ``python -m benchmarks.perf_stage1`` and ``benchmarks.perf_rerank``.

Modules:
    measure         load averages, wall/CPU timing, millisecond summaries, FAISS thread counts
    flops           the FLOPs of a BERT forward pass, counted from the tokens actually run
    stage1_encoder  stage-1 sections: build overhead, single-query latency, threads per forward pass
    stage1_bulk     stage-1 section: bulk-encoding GFLOP/s against the matmul peak
    stage1_faiss    stage-1 section: Flat and IVF-PQ search over synthetic unit vectors
    stage1_report   the stage-1 Markdown report
    rerank_timing   stage-2 candidates, throughput and latency timings, int8 agreement
    rerank_report   the stage-2 Markdown report
"""

__all__: list[str] = []
