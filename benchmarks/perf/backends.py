"""Which backends a speed benchmark times: those asked for on the command line that are installed here."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["installed_backends"]


def installed_backends(spec: str, choices: Sequence[str]) -> list[str]:
    """The comma-separated backends of `spec`, less onnx / openvino where their extra is not installed.

    Raises:
        SystemExit: a backend not in `choices` (the message lists them).

    Example:
        >>> installed_backends("torch, packed", ("torch", "packed", "onnx"))
        ['torch', 'packed']
    """
    from retrieval.onnx_forward import onnx_available
    from retrieval.openvino_forward import openvino_available

    asked = [b.strip() for b in spec.split(",") if b.strip()]
    unknown = sorted(set(asked) - set(choices))
    if unknown:
        raise SystemExit(f"error: unknown backends {unknown}; choose from {', '.join(choices)}")
    installed = {"onnx": onnx_available(), "openvino": openvino_available()}
    return [b for b in asked if installed.get(b, True)]
