"""Measuring on a shared machine: load averages, wall and CPU time, millisecond summaries, FAISS threads."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["FaissThreads", "faiss_default_threads", "load_averages", "load_summary", "ms_summary", "timed"]


def load_averages() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded to 2 places."""
    return [round(x, 2) for x in os.getloadavg()]


def load_summary() -> dict[str, float]:
    """``{"load1", "load5"}``: the load averages recorded beside each measurement."""
    one, five, _ = load_averages()
    return {"load1": one, "load5": five}


def ms_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p95 and min of per-call seconds, in milliseconds, and the number of calls.

    Example:
        >>> ms_summary([0.001, 0.002, 0.003])
        {'p50_ms': 2.0, 'p95_ms': 2.9, 'min_ms': 1.0, 'n': 3}
    """
    ms = np.asarray(seconds) * 1e3
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
        "min_ms": round(float(ms.min()), 3),
        "n": len(ms),
    }


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """Wall and CPU (this process, all threads) seconds of one call."""
    start, start_cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - start, time.process_time() - start_cpu


class FaissThreads:
    """FAISS's OpenMP thread count for the calling thread (libgomp keeps it per thread), restored after."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self) -> None:
        import faiss

        self.previous = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(self.n)

    def __exit__(self, *exc: Any) -> None:
        import faiss

        faiss.omp_set_num_threads(self.previous)


def faiss_default_threads() -> int:
    """FAISS's OpenMP thread count now."""
    import faiss

    return faiss.omp_get_max_threads()
