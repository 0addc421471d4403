"""An ONNX Runtime forward pass for a sentence-transformers model, exported once and cached by weights checksum.

`OnnxForward(model)(features)` gives ``model(features)["sentence_embedding"]`` (fp32; differences
are float rounding, about 1e-7) for the features ``model.preprocess`` makes; with
``output="scores"`` it is a ``CrossEncoder``'s logits. ``int8=True`` runs a copy quantised by
ONNX Runtime's dynamic quantisation (int8 weights per channel, activations per batch): faster on
some CPUs, approximate. The model is exported
with ``torch.onnx.export`` (the TorchScript exporter) the first time and kept as
``<cache>/<key>/model.onnx``, where the key is a sha256 over the weights (`retrieval.encoder_manifest`),
the input names and the exporter's versions; a later encoder with the same weights loads the file.
The file is written to a temporary name and renamed into place, so a reader never sees half of one.

Why: ONNX Runtime runs a short input (one query) with less per-operator overhead than eager
PyTorch; `benchmarks.perf_stage1` measures both in one run. The encoder (`retrieval.encoder`) uses it
for its small batches when asked (``backend="onnx"``) or by default where it is installed.

Only bi-encoders that are a ``Transformer`` followed by ``Pooling`` (and optionally ``Normalize``),
and cross-encoders that are one ``Transformer``, export;
others raise `OnnxBackendError` naming what is unsupported. ``onnxruntime`` and ``onnx`` are optional
(``pip install -c constraints.txt -e ".[onnx]"``); without it `onnx_available` is False.

Example:
    >>> forward = OnnxForward(SentenceTransformer("path/to/model"))  # doctest: +SKIP
    >>> forward(model.preprocess(["what is faiss"])).shape  # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import secrets
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from retrieval.errors import ModelLoadError

__all__ = [
    "OnnxBackendError", "OnnxForward", "default_onnx_cache", "export_onnx", "onnx_available", "unsupported_reason",
]

_EXPORT_FORMAT = 1  # bump when the exported graph changes, so old files are not reused
_OPSET = 17


class OnnxBackendError(ModelLoadError):
    """The ONNX backend cannot run this model (unsupported modules, or onnxruntime not installed)."""


def onnx_available() -> bool:
    """True when onnxruntime (to run) and onnx (for torch's exporter) are importable."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def default_onnx_cache() -> Path:
    """``$TWOSTAGE_CACHE_DIR/onnx``, else ``~/.cache/twostage/onnx``."""
    root = os.environ.get("TWOSTAGE_CACHE_DIR")
    return Path(root) / "onnx" if root else Path.home() / ".cache" / "twostage" / "onnx"


def unsupported_reason(model: Any, output: str = "sentence_embedding") -> str | None:
    """Why `model` cannot be exported here for `output`, or None when it can."""
    modules = list(model) if hasattr(model, "__iter__") else []
    kinds = [type(m).__name__ for m in modules]
    if output == "scores":
        if kinds not in (["Transformer"], ["Transformer", "Pooling", "Dense"]):
            return (
                f"its modules are {kinds or 'unknown'}; the ONNX backend exports a cross-encoder of one Transformer, "
                "or of Transformer, Pooling, Dense"
            )
    elif kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
        return f"its modules are {kinds or 'unknown'}; the ONNX backend exports Transformer, Pooling[, Normalize]"
    pooling = modules[1] if len(modules) > 1 else None
    if not getattr(pooling, "include_prompt", True):
        return "its Pooling leaves out prompt tokens (include_prompt=False), which the exported graph does not"
    if getattr(model, "device", None) is not None and model.device.type != "cpu":
        return f"it is on {model.device}; the ONNX backend runs on the CPU"
    return None


def _graph(model: Any, names: list[str], output: str) -> Any:
    """The module traced for export: input tensors by position -> `output`."""
    import torch

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.model(dict(zip(names, tensors)))[output]

    return Graph().eval()


def _key(model: Any, names: list[str], output: str) -> str:
    import torch

    from retrieval.encoder_manifest import weights_fingerprint

    record = {
        "weights": weights_fingerprint(SimpleNamespace(model=model)),
        "inputs": names,
        "output": output,
        "modules": [type(m).__name__ for m in model],
        "configs": [m.get_config_dict() if hasattr(m, "get_config_dict") else None for m in list(model)[1:]],
        "torch": torch.__version__.split("+")[0],
        "opset": _OPSET,
        "format": _EXPORT_FORMAT,
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _export(model: Any, features: dict[str, Any], names: list[str], output: str, dest: Path) -> None:
    import torch

    dest.parent.mkdir(parents=True, exist_ok=True)
    scratch = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.tmp")
    axes = {name: {0: "batch", 1: "tokens"} for name in names} | {output: {0: "batch"}}
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
            torch.onnx.export(
                _graph(model, names, output),
                tuple(features[n] for n in names),
                str(scratch),
                input_names=names,
                output_names=[output],
                dynamic_axes=axes,
                opset_version=_OPSET,
                dynamo=False,
            )
        os.replace(scratch, dest)
    finally:
        scratch.unlink(missing_ok=True)


def export_onnx(
    model: Any, output: str = "sentence_embedding", cache_dir: str | os.PathLike[str] | None = None
) -> tuple[Path, list[str]]:
    """The cached fp32 ONNX export of `model` (exported now when absent) and its input names.

    The caller checks `unsupported_reason` first. Used by `OnnxForward` and by
    `retrieval.openvino_forward.OpenVinoForward`, which compiles the same file.
    """
    text = "an example sentence to trace"
    sample = model.preprocess([(text, text)] if output == "scores" else [text])
    names = [k for k, v in sample.items() if hasattr(v, "dim") and v.dim() == 2]
    path = Path(cache_dir or default_onnx_cache()) / _key(model, names, output) / "model.onnx"
    if not path.is_file():
        _export(model, sample, names, output, path)
    return path, names


def _quantize(source: Path, dest: Path) -> None:
    """ONNX Runtime dynamic int8 quantisation of `source` (weights per channel), written atomically to `dest`."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    scratch = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.tmp")
    root = logging.getLogger()
    hint = _QuantizeHintFilter()  # its advice to pre-process is for static quantisation of vision models
    root.addFilter(hint)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(source), str(scratch), per_channel=True, weight_type=QuantType.QInt8)
        os.replace(scratch, dest)
    finally:
        root.removeFilter(hint)
        scratch.unlink(missing_ok=True)


class _QuantizeHintFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


class OnnxForward:
    """``model(features)[output]`` through ONNX Runtime, on `threads` CPU threads.

    Args:
        model: a loaded ``SentenceTransformer`` (Transformer, Pooling[, Normalize]) or
            ``CrossEncoder`` (one Transformer, or Transformer, Pooling, Dense; ``output="scores"``) on the CPU.
        cache_dir: where exports are kept (default `default_onnx_cache`).
        threads: ONNX Runtime intra-op threads for this session.
        output: ``"sentence_embedding"`` (bi-encoder) or ``"scores"`` (cross-encoder logits).
        int8: run ONNX Runtime's dynamically quantised copy (cached beside the fp32 export).

    Raises:
        OnnxBackendError: onnxruntime is not installed, or the model is not of a kind that exports.
    """

    def __init__(
        self,
        model: Any,
        cache_dir: str | os.PathLike[str] | None = None,
        threads: int = 1,
        output: str = "sentence_embedding",
        int8: bool = False,
    ) -> None:
        if not onnx_available():
            raise OnnxBackendError(
                "backend='onnx' needs onnxruntime and onnx: pip install -c constraints.txt -e \".[onnx]\" "
                "(or use backend='torch')"
            )
        reason = unsupported_reason(model, output)
        if reason:
            raise OnnxBackendError(f"cannot run this model with backend='onnx': {reason}; use backend='torch'")
        import onnxruntime as ort

        fp32, self.names = export_onnx(model, output, cache_dir)
        self.path = fp32.with_name("model.int8.onnx") if int8 else fp32
        if int8 and not self.path.is_file():
            _quantize(fp32, self.path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Pool threads that spin between calls would take cores from torch and FAISS in this process;
        # with one thread there is no pool (the calling thread does the work).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.threads = threads
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])

    def __call__(self, features: dict[str, Any]) -> np.ndarray:
        feeds = {name: np.ascontiguousarray(features[name].numpy(), dtype=np.int64) for name in self.names}
        return self.session.run(None, feeds)[0]
