"""What this CPU's matrix units are, and which quantized engine int8 weights are packed for.

Read by the fast paths (the packed BERT forward, the reranker's precision rule): bf16 and int8 run on
AMX tiles where the CPU has them, which changes what is fastest (docs/speed.md).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

__all__ = ["cpu_has_amx", "cpu_has_vnni", "int8_engine", "quantized_engine"]


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tile units (torch's own check; False where torch cannot tell)."""
    import torch

    check = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:
        return False


@functools.lru_cache(maxsize=1)
def cpu_has_vnni() -> bool:
    """True when the CPU has VNNI int8 dot products (no 16-bit saturation, so activations keep 8 bits)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            return any(line.startswith("flags") and "vnni" in line for line in handle)
    except OSError:
        return False


def int8_engine() -> str | None:
    """The quantized engine int8 weights are packed for: ``"onednn"`` on AMX CPUs (its dynamic int8
    linear runs on the tiles, about 2x torch's default x86/fbgemm one there, docs/speed.md), else
    ``None`` (torch's current engine)."""
    import torch

    if cpu_has_amx() and "onednn" in torch.backends.quantized.supported_engines:
        return "onednn"
    return None


@contextlib.contextmanager
def quantized_engine(engine: str | None) -> Iterator[None]:
    """Pack quantized weights for `engine` inside the block (``None``: leave torch's setting), then
    restore torch's global engine. Packed weights keep their engine, so they run with it later."""
    import torch

    if engine is None:
        yield
        return
    before = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        yield
    finally:
        torch.backends.quantized.engine = before
