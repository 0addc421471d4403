"""The folder format shared by encoder and reranker ensembles: a JSON description beside the parts.

An ensemble folder holds one sub-folder per part (an ordinary saved model) and a JSON file naming
the parts and their weights (``encoder_ensemble.json``, ``reranker_ensemble.json``). The checks
here refuse a description whose parts are not saved there, or whose weights are not one positive
number per part.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMAT_VERSION", "check_saved_parts", "check_weights", "read_ensemble", "write_ensemble", "write_json_atomic",
]

FORMAT_VERSION = 1


def check_weights(parts: Sequence[Any], weights: Sequence[float]) -> None:
    """Refuse an empty ensemble, or weights that are not one positive finite number per part."""
    if not parts:
        raise ValueError("an ensemble needs at least one part")
    if len(weights) != len(parts):
        raise ValueError(f"{len(parts)} parts but {len(weights)} weights; give one weight per part")
    if any(not np.isfinite(w) or w <= 0 for w in weights):
        raise ValueError(f"ensemble weights must be positive and finite, got {list(weights)}")


def check_saved_parts(out_dir: Path, parts: Sequence[str], weights: Sequence[float], marker: str, what: str) -> None:
    """Refuse an ensemble description whose parts are not saved sub-folders of `out_dir` (each with
    `marker`, a saved `what`), or whose weights are not one positive number per part."""
    check_weights(parts, weights)
    for part in parts:
        if Path(part).is_absolute() or ".." in Path(part).parts:
            raise ValueError(f"ensemble part {part!r} must be a sub-folder name of {out_dir}")
        if not (out_dir / part / marker).is_file():
            raise FileNotFoundError(f"{out_dir / part} is not a saved {what} (no {marker})")


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write `payload` as JSON beside `path`, then rename it over `path` (a reader never sees half a file)."""
    temporary = path.parent / f".{path.name}.tmp"
    temporary.write_text(json.dumps(payload, indent=2))
    os.replace(temporary, path)


def write_ensemble(path: Path, parts: Sequence[str], weights: Sequence[float]) -> None:
    """Write the ensemble description `path` (parts already checked with `check_saved_parts`)."""
    write_json_atomic(path, {"format_version": FORMAT_VERSION, "parts": list(parts), "weights": list(weights)})


def read_ensemble(path: Path) -> tuple[list[str], list[float]]:
    """The parts and weights of an ensemble description that `write_ensemble` wrote.

    Example:
        >>> parts, weights = read_ensemble(Path("models/stage1/encoder_ensemble.json"))  # doctest: +SKIP
    """
    spec = json.loads(Path(path).read_text())
    if spec.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: unknown format_version {spec.get('format_version')!r}")
    return list(spec["parts"]), [float(w) for w in spec["weights"]]
