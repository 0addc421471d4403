"""Ad hoc: where the packed reranker's forward spends its time, per precision (torch profiler, self time).

Scores 256 pairs (32 SciFact test queries x 8 abstracts, cut to the model's 128 tokens) with the given
cross-encoder through `CrossEncoderReranker` (packed backend, one worker thread, one torch thread) in
fp32, bf16 and int8, and prints each kind of operator's share of the self time and its milliseconds per
pair. Not part of the project's code; docs/speed.md quotes its output.

    PYTHONPATH=. python docs/experiments/profile_rerank_forward.py <cross-encoder folder>
"""

from __future__ import annotations

import collections
import sys


def _kind(name: str) -> str:
    if any(k in name for k in ("linear", "addmm", "aten::mm", "qlinear", "_linear_pointwise")):
        return "linear layers (matmul, fused bias/GELU/add)"
    if any(k in name for k in ("scaled_dot", "bmm", "softmax", "_flash", "attention")):
        return "attention (sdpa)"
    if "layer_norm" in name:
        return "layer norm"
    if "quantize" in name or "dynamic" in name:
        return "activation quantization"
    if "gelu" in name:
        return "gelu"
    if any(k in name for k in ("embedding", "index_select", "index_add", "arange", "cat")):
        return "embeddings, gathers"
    if any(k in name for k in ("copy", "to", "view", "transpose", "permute", "reshape", "select", "slice", "empty", "unsqueeze", "contiguous", "as_strided", "expand")):
        return "copies and views"
    return f"other: {name}"


def main(path: str) -> None:
    import json

    import torch
    from torch.profiler import ProfilerActivity, profile

    from benchmarks.paths import shared_dir
    from rerank.cross_encoder import CrossEncoderReranker

    folder = shared_dir() / "datasets" / "scifact"
    with open(folder / "corpus.jsonl") as f:
        docs = [" ".join(filter(None, (d.get("title"), d["text"]))) for d in map(json.loads, f)][:256]
    with open(folder / "queries.jsonl") as f:
        queries = [json.loads(line)["text"] for line in f][:32]
    q = [queries[i // 8] for i in range(256)]
    torch.set_num_threads(1)
    for precision in ("fp32", "bf16", "int8"):
        reranker = CrossEncoderReranker.load(path, device="cpu", backend="packed", precision=precision, workers=1,
                                             show_progress=False)
        reranker.outputs_for(q[:32], docs[:32])  # warm-up
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            reranker.outputs_for(q, docs)
        shares: dict[str, float] = collections.defaultdict(float)
        for event in prof.key_averages():
            if event.self_cpu_time_total > 0:
                shares[_kind(event.key)] += event.self_cpu_time_total
        total = sum(shares.values())
        print(f"{precision}: {total / 1e3 / 256:.2f} ms a pair (profiled), 1 thread")
        for kind, us in sorted(shares.items(), key=lambda kv: -kv[1])[:8]:
            print(f"  {kind:46s} {100 * us / total:5.1f}%  {us / 1e3 / 256:.3f} ms a pair")


if __name__ == "__main__":
    main(sys.argv[1])
