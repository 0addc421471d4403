"""A trained cross-encoder's calibrated cut-off, read from ``calibration.json`` beside its weights.

The file (written by training) holds::

    {"threshold": 0.62, "metric": "f1", "thresholds": {"f1": 0.62, "accuracy": 0.55, ...},
     "epoch": 3, "activation": "sigmoid", "stage1_weight": 1.7, "stage1_mean": 0.41, "stage1_std": 0.08}

`threshold` is a probability on the reranker's score scale, chosen on held-out data by `metric`.
`stage1_weight` (optional, default 0) adds ``weight * (stage1_score - stage1_mean) / stage1_std`` to
the logit before the activation (`rerank.fusion`); the thresholds were then fitted on those scores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

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
    weight, std = data.get("stage1_weight", 0.0), data.get("stage1_std", 1.0)
    for key, value in (("stage1_weight", weight), ("stage1_std", std)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
            raise ValueError(f"{path}: '{key}' must be a finite number >= 0, got {value!r}")
    if weight and not std > 0:
        raise ValueError(f"{path}: 'stage1_std' must be positive when 'stage1_weight' is set, got {std!r}")
    activation = data.get("activation")
    if activation is not None and activation not in ACTIVATIONS:
        raise ValueError(f"{path}: 'activation' must be one of {ACTIVATIONS}, got {activation!r}")
    return data
