"""Per-query latency: time a call once per item, summarise as p50/p95 ms and queries/s."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np

__all__ = ["Latency", "sample_ids", "time_calls"]

T = TypeVar("T")


@dataclass(frozen=True)
class Latency:
    """Latency of single-query calls, in milliseconds; `qps` is 1000 / mean (one query at a time).

    Example:
        >>> Latency.from_seconds([0.01, 0.02, 0.03]).p50_ms
        20.0
    """

    p50_ms: float
    p95_ms: float
    mean_ms: float
    qps: float
    n: int

    @classmethod
    def from_seconds(cls, seconds: Sequence[float]) -> Latency:
        if not len(seconds):
            raise ValueError("no timings to summarise")
        ms = np.asarray(seconds, dtype=np.float64) * 1000.0
        mean = float(ms.mean())
        return cls(
            p50_ms=round(float(np.percentile(ms, 50)), 3),
            p95_ms=round(float(np.percentile(ms, 95)), 3),
            mean_ms=round(mean, 3),
            qps=round(1000.0 / mean, 3) if mean > 0 else float("inf"),
            n=len(ms),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def time_calls(fn: Callable[[T], Any], items: Sequence[T], warmup: int = 1) -> list[float]:
    """Seconds of ``fn(item)`` for each item, after `warmup` untimed calls on the first item."""
    if not items:
        return []
    for _ in range(warmup):
        fn(items[0])
    out = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - start)
    return out


def sample_ids(ids: Sequence[str], n: int, seed: int = 0) -> list[str]:
    """A seeded sample of `n` ids (all of them if fewer), in their original order."""
    ids = list(ids)
    if n >= len(ids):
        return ids
    chosen = set(random.Random(seed).sample(ids, n))
    return [i for i in ids if i in chosen]
