"""What a result was measured on: libraries, CPU, GPU, threads, and the machine's matmul yardstick."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

__all__ = ["LIBRARIES", "environment"]

LIBRARIES = (
    "torch",
    "transformers",
    "sentence-transformers",
    "faiss-cpu",
    "faiss-gpu-cu12",
    "ranx",
    "bm25s",
    "PyStemmer",
    "numpy",
    "datasets",
    "ir_datasets",
    "twostage",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment(measure_peak: bool = True) -> dict[str, Any]:
    """Library versions, CPU/GPU, thread counts and (with `measure_peak`) matmul GFLOP/s measured now.

    Example:
        >>> environment(measure_peak=False)["python"].count(".") >= 1
        True
    """
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "libraries": versions,
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "HF_HUB_OFFLINE") if k in os.environ},
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:  # pragma: no cover - a dependency
        info["gpu"] = None
    try:
        import faiss

        info["faiss_gpus"] = getattr(faiss, "get_num_gpus", lambda: 0)()
        info["faiss_threads"] = faiss.omp_get_max_threads()
    except ImportError:  # pragma: no cover - a dependency
        pass
    if measure_peak:
        from benchmarks.peak import matmul_peak_gflops

        info["matmul_peak_gflops"] = round(matmul_peak_gflops(n=1024, repeats=3), 1)
    return info
