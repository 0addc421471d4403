"""The machine's own yardsticks, measured in the same run as the thing they judge."""

from __future__ import annotations

import time

import torch

__all__ = ["matmul_peak_gflops"]


def matmul_peak_gflops(n: int = 2048, repeats: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """Best-of-`repeats` GFLOP/s of an n x n x n matrix product through torch (all threads)."""
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9
