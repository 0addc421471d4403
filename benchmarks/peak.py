"""The machine's own yardsticks, measured in the same run as the thing they judge."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

__all__ = ["matmul_peak_gflops"]


def matmul_peak_gflops(
    n: int = 2048,
    repeats: int = 5,
    dtype: torch.dtype = torch.float32,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Best-of-`repeats` GFLOP/s of an n x n x n matrix product through torch (all threads).

    With ``clock=time.process_time`` it is GFLOP per CPU-second of this process: time spent
    descheduled by other work on the machine is not counted.
    """
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        torch.mm(a, b)
        best = min(best, clock() - start)
    return 2 * n**3 / best / 1e9
