"""Ad hoc: int8 linear layers with bf16 attention and activations in the packed reranker, against bf16.

The packed bf16 reranker with every linear layer of its encoder swapped for oneDNN's static int8 linear
(``torch.ops.onednn.qlinear_pointwise``: weights int8 per channel, prepacked; bf16 out, with the GELU or
the residual add fused as a post-op), its activations quantized per tensor on the fly (``aminmax`` then
``quantize_per_tensor``, asymmetric uint8 or symmetric); attention, layer norms and embeddings stay
bf16. A variant keeps the feed-forward's second layer (the one reading the 1536-wide GELU output) in
bf16. 800 SciFact pairs (8 queries x 100 random abstracts, cut to the model's 128 tokens) are scored
by each; prints max |logit - fp32|, the mean per-query Kendall tau against fp32, and pairs/s (best of
three, alternating). Then one layer's operators at MiniLM's shapes (2560 tokens), by kernel. Not part of
the project's code; docs/speed.md quotes its output.

    PYTHONPATH=. python docs/experiments/int8_bf16_packed.py <cross-encoder folder>
"""

from __future__ import annotations

import json
import random
import sys
import time
import warnings

import numpy as np
import torch


class Int8Dense:
    """A `retrieval.packed_forward._Dense` stand-in: static int8 oneDNN linear, activations quantized per call."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, symmetric: bool) -> None:
        w = weight.detach().float()
        self.w_scale = (w.abs().amax(1).clamp(min=1e-8) / 127).contiguous()
        wq = torch.round(w / self.w_scale[:, None]).clamp(-127, 127).to(torch.int8)
        self.packed = torch.ops.onednn.qlinear_prepack(wq, None)
        self.w_zp = torch.zeros(w.shape[0], dtype=torch.long)
        self.bias = bias.detach().float().contiguous()
        self.symmetric = symmetric

    def _quantize(self, x: torch.Tensor) -> tuple[torch.Tensor, float, int]:
        xf = x.float()
        lo, hi = (float(v) for v in torch.aminmax(xf))
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        if self.symmetric:
            scale, zero = max(max(-lo, hi) / 127.5, 1e-8), 128
        else:
            scale = max((hi - lo) / 255, 1e-8)
            zero = int(round(-lo / scale))
        return torch.quantize_per_tensor(xf, scale, zero, torch.quint8).int_repr(), scale, zero

    def __call__(self, x: torch.Tensor, post: str = "none", algorithm: str = "") -> torch.Tensor:
        q, s, z = self._quantize(x)
        return torch.ops.onednn.qlinear_pointwise(
            q, s, z, self.packed, self.w_scale, self.w_zp, self.bias, 1.0, 0, torch.bfloat16, post, [], algorithm
        )

    def gelu(self, x: torch.Tensor) -> torch.Tensor:
        return self(x, "gelu", "none")

    def add(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        q, s, z = self._quantize(x)
        return torch.ops.onednn.qlinear_pointwise.binary(
            q, s, z, self.packed, self.w_scale, self.w_zp, residual, self.bias, 1.0, 0, torch.bfloat16,
            1.0, 0, "add", 1.0, "none", [], "",
        )


def _swap(reranker, fp32, symmetric: bool, keep: tuple[str, ...] = ()) -> None:
    for layer, exact in zip(reranker.packed.body.layers, fp32.packed.body.layers):
        for name in ("qkv", "q", "kv", "out", "up", "down"):
            if name not in keep:
                dense = getattr(exact, name)
                setattr(layer, name, Int8Dense(dense.weight, dense.bias, symmetric))


def _pairs() -> tuple[list[str], list[str]]:
    from benchmarks.paths import shared_dir

    folder = shared_dir() / "datasets" / "scifact"
    docs = {}
    for line in open(folder / "corpus.jsonl"):
        d = json.loads(line)
        docs[d["_id"]] = " ".join(filter(None, (d.get("title"), d["text"])))
    queries = [json.loads(line)["text"] for line in open(folder / "queries.jsonl")]
    rng = random.Random(0)
    ids = list(docs)
    chosen = rng.sample(queries, 8)
    passages = [[docs[i] for i in rng.sample(ids, 100)] for _ in chosen]
    return [q for q, ps in zip(chosen, passages) for _ in ps], [p for ps in passages for p in ps]


def _time(fn, repeats: int = 50) -> float:
    for _ in range(5):
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1e3


def _kernels() -> None:
    tokens = 2560
    print(f"\none layer's operators, {tokens} tokens (ms):")
    for k, n, what in ((384, 1152, "QKV"), (384, 1536, "feed-forward up"), (1536, 384, "feed-forward down")):
        x = torch.randn(tokens, k).bfloat16()
        w, b = torch.randn(n, k) * 0.05, torch.randn(n) * 0.1
        residual = torch.randn(tokens, n).bfloat16()
        int8 = Int8Dense(w, b, symmetric=False)
        q, s, z = int8._quantize(x)
        bf16 = (w.bfloat16(), b.bfloat16())
        rows = {
            "bf16 linear": lambda: torch.ops.mkldnn._linear_pointwise(x, *bf16, "none", [], ""),
            "bf16 linear + GELU": lambda: torch.ops.mkldnn._linear_pointwise(x, *bf16, "gelu", [], "none"),
            "bf16 linear + add": lambda: torch.ops.mkldnn._linear_pointwise.binary(x, residual, *bf16, "add"),
            "int8 linear, quantized input given": lambda: torch.ops.onednn.qlinear_pointwise(
                q, s, z, int8.packed, int8.w_scale, int8.w_zp, int8.bias, 1.0, 0, torch.bfloat16, "none", [], ""
            ),
            "quantizing the bf16 input (aminmax + quantize)": lambda: int8._quantize(x),
            "int8 linear, quantizing included": lambda: int8(x),
            "int8 linear + GELU, quantizing included": lambda: int8.gelu(x),
            "int8 linear + add, quantizing included": lambda: int8.add(x, residual),
        }
        print(f"  {what} ({k} -> {n}): " + "; ".join(f"{name} {_time(fn):.2f}" for name, fn in rows.items()))


def main() -> None:
    from scipy.stats import kendalltau

    from rerank.cross_encoder import CrossEncoderReranker

    warnings.simplefilter("ignore")
    model = sys.argv[1]
    queries, passages = _pairs()
    fp32 = CrossEncoderReranker.load(model, device="cpu", show_progress=False, precision="fp32")
    exact = fp32.outputs_for(queries, passages).logits.ravel()
    variants = {
        "packed bf16 (the default)": None,
        "int8 linear (uint8 asymmetric) + bf16": (False, ()),
        "int8 linear (symmetric) + bf16": (True, ()),
        "int8 linear but the FFN's second (bf16) + bf16": (False, ("down",)),
    }
    rerankers = {}
    for name, variant in variants.items():
        reranker = CrossEncoderReranker.load(model, device="cpu", show_progress=False, precision="bf16")
        if variant is not None:
            _swap(reranker, fp32, *variant)
        rerankers[name] = reranker
        scores = reranker.outputs_for(queries, passages).logits.ravel()
        taus = [kendalltau(exact[i : i + 100], scores[i : i + 100])[0] for i in range(0, len(exact), 100)]
        print(f"{name:50s} max |logit - fp32| {np.abs(scores - exact).max():.3f}, mean tau {np.mean(taus):.3f}")
    seconds: dict[str, list[float]] = {}
    for rep in range(3):
        order = list(rerankers) if rep % 2 == 0 else list(reversed(rerankers))
        for name in order:
            start = time.perf_counter()
            rerankers[name].outputs_for(queries, passages)
            seconds.setdefault(name, []).append(time.perf_counter() - start)
    base = min(seconds["packed bf16 (the default)"])
    for name, times in seconds.items():
        print(f"{name:50s} {len(queries) / min(times):7.1f} pairs/s  {base / min(times):.2f}x packed bf16")
    _kernels()


if __name__ == "__main__":
    main()
