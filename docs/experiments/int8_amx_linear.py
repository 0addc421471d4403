"""Ad hoc: one linear layer of MiniLM's shape in fp32, bf16 and int8 on this CPU, by kernel.

x (2560 tokens x 384) @ W.T (384 -> 1536), as the feed-forward's first layer for 20 pairs of 128 tokens.
Times fp32 and bf16 (oneDNN), torch's dynamic int8 linear with weights packed for each quantized engine
(x86, fbgemm, onednn), and oneDNN's static int8 linear (``torch.ops.onednn.qlinear_pointwise``) on
already-quantized activations, alone and with the per-tensor activation quantization that a dynamic
path must add in eager mode. Not part of the project's code; docs/speed.md quotes its output.

    python docs/experiments/int8_amx_linear.py
"""

from __future__ import annotations

import time
import warnings

import torch

M, K, N = 2560, 384, 1536


def _time(fn, repeats: int = 50) -> float:
    for _ in range(3):
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    warnings.simplefilter("ignore")
    torch.manual_seed(0)
    x, w, b = torch.randn(M, K), torch.randn(N, K) * 0.05, torch.randn(N) * 0.1
    xb, wb, bb = x.bfloat16(), w.bfloat16(), b.bfloat16()
    times = {
        "fp32 (oneDNN)": _time(lambda: torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")),
        "bf16 (oneDNN, AMX)": _time(lambda: torch.ops.mkldnn._linear_pointwise(xb, wb, bb, "none", [], "")),
    }
    before = torch.backends.quantized.engine
    for engine in ("x86", "fbgemm", "onednn"):
        if engine not in torch.backends.quantized.supported_engines:
            continue
        torch.backends.quantized.engine = engine
        layer = torch.nn.Linear(K, N)
        layer.weight.data, layer.bias.data = w.clone(), b.clone()
        quantized = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(layer), {torch.nn.Linear})
        times[f"int8 dynamic, weights packed for {engine}"] = _time(lambda: quantized(x))
    torch.backends.quantized.engine = before
    scale = w.abs().amax(1) / 127
    packed = torch.ops.onednn.qlinear_prepack(torch.round(w / scale[:, None]).to(torch.int8), None)
    zeros = torch.zeros(N, dtype=torch.long)

    def static(xq: torch.Tensor, x_scale: float) -> torch.Tensor:
        return torch.ops.onednn.qlinear_pointwise(
            xq, x_scale, 0, packed, scale, zeros, bb, 1.0, 0, torch.bfloat16, "none", [], ""
        )

    x_scale = float(xb.abs().max()) / 127
    xq = torch.round(xb / x_scale).to(torch.int8)
    times["int8 static (oneDNN qlinear, activations already int8), bf16 out"] = _time(lambda: static(xq, x_scale))
    times["  + quantizing the bf16 activations per tensor first"] = _time(
        lambda: static(torch.round(xb / (float(xb.abs().max()) / 127)).to(torch.int8), x_scale)
    )
    flops = 2 * M * K * N
    base = times["fp32 (oneDNN)"]
    for name, seconds in times.items():
        print(f"{name:70s} {seconds * 1e3:7.2f} ms {flops / seconds / 1e9:7.0f} GFLOP/s {base / seconds:5.2f}x fp32")


if __name__ == "__main__":
    main()
