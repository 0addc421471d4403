"""An OpenVINO forward pass for a sentence-transformers model, compiled from the cached ONNX export.

`OpenVinoForward(model)(features)` gives what `retrieval.onnx_forward.OnnxForward` gives (a
bi-encoder's ``sentence_embedding`` or a cross-encoder's ``scores``), run by the OpenVINO runtime on
the CPU. The model is exported once with `retrieval.onnx_forward.export_onnx` (the same file, cached by
weights checksum) and compiled in memory at load; nothing else is written.

Precision: ``"fp32"`` compiles with OpenVINO's inference precision set to f32 explicitly (OpenVINO
otherwise runs bf16 on CPUs with AMX or AVX-512 BF16, which is not the model's arithmetic);
``"bf16"`` asks for bf16 (approximate; on CPUs without bf16 support OpenVINO runs f32). int8 is not
offered: OpenVINO's int8 variants (NNCF weight compression, static quantisation) measured no faster
than its bf16 and further from fp32 on an AMX CPU, and static int8 needs calibration data
(docs/speed.md).

``openvino`` and ``onnx`` are optional (``pip install -c constraints.txt -e ".[openvino]"``); without
them `openvino_available` is False and `OpenVinoForward` raises `OpenVinoBackendError`.

Example:
    >>> forward = OpenVinoForward(CrossEncoder("path/to/model"), output="scores")  # doctest: +SKIP
    >>> forward(model.preprocess([("what is faiss", "FAISS is a library")])).shape  # doctest: +SKIP
    (1, 1)
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import numpy as np

from retrieval.errors import ModelLoadError

__all__ = ["OPENVINO_PRECISIONS", "OpenVinoBackendError", "OpenVinoForward", "openvino_available"]

OPENVINO_PRECISIONS = ("fp32", "bf16")
_HINTS = {"fp32": "f32", "bf16": "bf16"}


class OpenVinoBackendError(ModelLoadError):
    """The OpenVINO backend cannot run this model (unsupported modules, or openvino not installed)."""


def openvino_available() -> bool:
    """True when openvino (to run) and onnx (for torch's exporter) are importable."""
    return all(importlib.util.find_spec(name) is not None for name in ("openvino", "onnx"))


class OpenVinoForward:
    """``model(features)[output]`` through OpenVINO on the CPU, on `threads` threads.

    Args:
        model: a loaded ``SentenceTransformer`` (Transformer, Pooling[, Normalize]) or
            ``CrossEncoder`` (one Transformer, or Transformer, Pooling, Dense; ``output="scores"``) on the CPU.
        cache_dir: where the ONNX export is kept (default `retrieval.onnx_forward.default_onnx_cache`).
        threads: OpenVINO inference threads.
        output: ``"sentence_embedding"`` (bi-encoder) or ``"scores"`` (cross-encoder logits).
        precision: ``"fp32"`` or ``"bf16"`` (see the module docstring).

    Attributes:
        inference_precision: the precision OpenVINO compiled for (``"f32"`` or ``"bf16"``).

    Raises:
        OpenVinoBackendError: openvino or onnx is not installed, or the model does not export.
        ValueError: `precision` is not one of `OPENVINO_PRECISIONS`.
    """

    def __init__(
        self,
        model: Any,
        cache_dir: str | os.PathLike[str] | None = None,
        threads: int = 1,
        output: str = "sentence_embedding",
        precision: str = "fp32",
    ) -> None:
        if precision not in OPENVINO_PRECISIONS:
            raise ValueError(
                f"backend='openvino' runs precision {' or '.join(OPENVINO_PRECISIONS)}, got {precision!r}"
                + ("; for int8 use backend='packed' or 'onnx'" if precision == "int8" else "")
            )
        if not openvino_available():
            raise OpenVinoBackendError(
                "backend='openvino' needs openvino and onnx: pip install -c constraints.txt -e \".[openvino]\" "
                "(or use backend='torch')"
            )
        from retrieval.onnx_forward import export_onnx, unsupported_reason

        reason = unsupported_reason(model, output)
        if reason:
            raise OpenVinoBackendError(f"cannot run this model with backend='openvino': {reason}; use backend='torch'")
        import openvino as ov

        self.path, self.names = export_onnx(model, output, cache_dir)
        core = ov.Core()
        config = {
            "INFERENCE_PRECISION_HINT": _HINTS[precision],
            "INFERENCE_NUM_THREADS": int(threads),
            "PERFORMANCE_HINT": "LATENCY",
            # Threads pinned to cores would fight torch's and FAISS's threads in this process.
            "ENABLE_CPU_PINNING": False,
        }
        self.compiled = core.compile_model(core.read_model(str(self.path)), "CPU", config)
        hint = self.compiled.get_property("INFERENCE_PRECISION_HINT")
        self.inference_precision = hint.to_string() if hasattr(hint, "to_string") else str(hint)
        self.threads = int(threads)
        self.precision = precision
        self._request = self.compiled.create_infer_request()

    def __call__(self, features: dict[str, Any]) -> np.ndarray:
        feeds = {name: np.ascontiguousarray(features[name].numpy(), dtype=np.int64) for name in self.names}
        result = self._request.infer(feeds)
        return np.array(result[self.compiled.output(0)], dtype=np.float32)
