"""A trained cross-encoder's calibrated cut-off, read from ``calibration.json`` beside its weights.

The file (written by training) holds::

    {"threshold": 0.62, "metric": "f1", "thresholds": {"f1": 0.62, "accuracy": 0.55, ...},
     "epoch": 3, "activation": "sigmoid"}

`threshold` is a probability on the reranker's score scale, chosen on held-out data by `metric`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rerank.outputs import ACTIVATIONS

__all__ = ["CALIBRATION_FILE", "read_calibration"]

CALIBRATION_FILE = "calibration.json"


def read_calibration(model_dir: str | Path) -> dict[str, Any] | None:
    """The calibration of a model folder, checked; None when the folder has none (or is a hub name).

    Example:
        >>> read_calibration("/nonexistent/model") is None
        True
    """
    path = Path(model_dir) / CALIBRATION_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); retrain or delete it") from exc
    threshold = data.get("threshold") if isinstance(data, dict) else None
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise ValueError(f"{path}: 'threshold' must be a probability in [0, 1], got {threshold!r}")
    activation = data.get("activation")
    if activation is not None and activation not in ACTIVATIONS:
        raise ValueError(f"{path}: 'activation' must be one of {ACTIVATIONS}, got {activation!r}")
    return data
