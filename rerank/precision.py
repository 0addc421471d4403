"""The reranker's precision when none is given: the fastest one that keeps the ranking, per device.

`CrossEncoderReranker` and its loaders resolve ``precision=None`` (or ``"auto"``) here. bfloat16 is
chosen where the CPU has AMX tile units and the reranker runs the packed BERT forward or OpenVINO (the
paths measured); fp32 everywhere else: on GPUs, on CPUs without AMX (where bf16 runs slower than
fp32), on ONNX Runtime, and for models only the padded torch forward runs.
`benchmarks.perf_rerank` applies the rule behind it to a model (``default_choice``: the fastest
backend within 0.005 nDCG@10 of fp32 whose scores keep Kendall tau >= 0.99); docs/speed.md has the
measurement that made bf16 the default on AMX CPUs.
"""

from __future__ import annotations

from retrieval.cpu import cpu_has_amx

__all__ = ["AUTO", "cpu_has_amx", "default_precision"]

AUTO = "auto"


def default_precision(on_cpu: bool, packed: bool, backend: str, int8: bool = False) -> str:
    """The precision for ``precision=None``: int8 when `int8` asks for it; bf16 on AMX CPUs when the
    reranker runs the packed forward (`packed`) or ``backend="openvino"``; else fp32."""
    if int8:
        return "int8"
    if on_cpu and (packed or backend == "openvino") and cpu_has_amx():
        return "bf16"
    return "fp32"
