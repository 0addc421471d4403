"""Stage-1 section: bulk-encoding GFLOP/s against a matmul peak measured in the same run.

FLOPs are counted per forward pass (`benchmarks.perf.flops`): ``gflops`` counts attention over the
padded length as actually run, ``useful_gflops`` over each sequence's real length (no padding). The
other backends (the packed forward, ONNX Runtime, OpenVINO) run outside the modules the counter hooks;
they batch exactly as the torch `Encoder` with the same token budget, so they are counted by one torch
pass over the same texts (the packed forward's real work is the ``useful`` figure: it pads nothing).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.perf.flops import FlopCounter
from benchmarks.perf.measure import load_summary, timed

__all__ = ["section_bulk"]


def section_bulk(
    encoder: Any,
    corpus: Sequence[Any],
    budgets: Sequence[int],
    repeats: int,
    thread_counts: Sequence[int],
    peak_n: int = 2048,
    backends: Sequence[str] = (),
) -> dict[str, Any]:
    """Achieved GFLOP/s of corpus encoding at several token budgets and of plain model.encode.

    Wall-clock GFLOP/s is judged against `matmul_peak_gflops()` measured just before and after
    each configuration (the higher kept); GFLOP per CPU-second against the same product timed in
    CPU time, which on one thread shows what an idle core would do even when the machine is busy.

    Args:
        encoder: the `retrieval.Encoder` under test.
        corpus: the documents to encode (anything `indexes.read_corpus` reads).
        budgets: the `Encoder` token budgets tried, beside plain ``SentenceTransformer.encode``.
        repeats: timed runs per configuration; the best is kept.
        thread_counts: torch threads per round (0: torch's default).
        peak_n: the size of the matmul that measures the peak.
        backends: other backends (``"packed"``, ``"onnx"``, ``"openvino"``) also timed, at the encoder's
            token budget and the round's thread count.
    """
    import torch

    from benchmarks.peak import matmul_peak_gflops
    from indexes import read_corpus
    from retrieval.encoder import Encoder, document_text

    texts = [document_text(d) for d in read_corpus(corpus)]
    model = encoder.model
    counter = FlopCounter(model[0])
    configs: list[tuple[str, Callable[[], Any]]] = [
        ("SentenceTransformer.encode(batch_size=32)", lambda: model.encode(texts, batch_size=32, normalize_embeddings=True)),
    ]
    for budget in budgets:
        tuned = Encoder(model, encoder.name, batch_size=encoder.batch_size, token_budget=budget)
        name = f"Encoder(token_budget={budget})" + (" (default)" if budget == encoder.token_budget else "")
        configs.append((name, lambda tuned=tuned: tuned.encode_documents(texts, show_progress=False)))
    exported = {f"Encoder(backend={b!r}, token_budget={encoder.token_budget})": b for b in backends}
    same_batches = Encoder(
        model, encoder.name, batch_size=encoder.batch_size, token_budget=encoder.token_budget, backend="torch"
    )
    configs += [(name, None) for name in exported]
    default_threads = torch.get_num_threads()
    runs = []
    try:
        model.encode(texts[:16])  # warm-up
        for threads in thread_counts:
            torch.set_num_threads(threads or default_threads)
            for name, call in configs:
                if call is None:  # another backend: made for this round's threads, warmed, counted by torch
                    on = Encoder(model, encoder.name, batch_size=encoder.batch_size, token_budget=encoder.token_budget,
                                 backend=exported[name])
                    on.encode_documents(texts[:16], show_progress=False)
                    call = lambda on=on: on.encode_documents(texts, show_progress=False)  # noqa: E731
                peak_before = matmul_peak_gflops(peak_n)
                cpu_peak = matmul_peak_gflops(peak_n, repeats=3, clock=time.process_time)
                best, best_cpu, flops = float("inf"), float("inf"), 0.0
                for _ in range(max(1, repeats)):
                    counter.reset()
                    elapsed, cpu = timed(call)
                    best, best_cpu = min(best, elapsed), min(best_cpu, cpu)
                if name in exported:  # the counter saw nothing: count the same batches once on torch
                    counter.reset()
                    same_batches.encode_documents(texts, show_progress=False)
                flops, useful = counter.dense + counter.attn_padded, counter.dense + counter.attn_real
                if exported.get(name) == "packed":
                    flops = useful  # it runs no padding
                peak = max(peak_before, matmul_peak_gflops(peak_n))
                gflops, gflops_cpu = flops / best / 1e9, flops / best_cpu / 1e9
                runs.append(
                    {
                        "config": name,
                        "backend": exported.get(name, "torch"),
                        "threads": torch.get_num_threads(),
                        "seconds": round(best, 3),
                        "docs_per_s": round(len(texts) / best, 2),
                        "gflop": round(flops / 1e9, 2),
                        "gflops": round(gflops, 2),
                        "useful_gflops": round(useful / best / 1e9, 2),
                        "peak_gflops": round(peak, 2),
                        "ratio_to_peak": round(gflops / peak, 3),
                        "gflops_per_cpu_s": round(gflops_cpu, 2),
                        "cpu_peak_gflops": round(cpu_peak, 2),
                        "cpu_ratio": round(gflops_cpu / cpu_peak, 3),
                        **load_summary(),
                    }
                )
                print(f"  bulk {threads or default_threads}t {name}: {gflops:.1f} GFLOP/s / peak {peak:.1f}; "
                      f"per CPU-s {gflops_cpu:.1f} / {cpu_peak:.1f}", file=sys.stderr)
    finally:
        counter.close()
        torch.set_num_threads(default_threads)
    return {"docs": len(texts), "runs": runs, "target_ratio": 0.85}
