"""An ensemble of stage-2 rerankers: the weighted mean of their fused logits.

When stage 1 is an ensemble of vocabularies (`retrieval.encoder_ensemble`), stage 2 can be one
kernel reranker per part's tokenizer and token vectors, their logits averaged. Each part fuses its
own calibrated stage-1 evidence first (`rerank.fusion`), so the mean is taken over what each part
would score alone; the activation then makes it a probability, and the ensemble's own threshold
(fitted on those probabilities) is the Searcher's calibrated cut-off.

On disk an ensemble is a folder with ``reranker_ensemble.json`` (the parts' sub-folders and
weights) and ``calibration.json`` (the ensemble's thresholds) beside the parts, each an ordinary
cross-encoder folder that ``CrossEncoder(path)`` loads. `rerank.CrossEncoderReranker.load` opens
either kind of folder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rerank.calibration import CALIBRATION_FILE
from rerank.outputs import scores_from_logits
from retrieval.ensemble_files import check_saved_parts, check_weights, write_ensemble, write_json_atomic
from retrieval.types import Hit, Reranker

__all__ = ["ENSEMBLE_FILE", "RerankerEnsemble", "is_reranker_ensemble", "save_reranker_ensemble"]

ENSEMBLE_FILE = "reranker_ensemble.json"


def is_reranker_ensemble(path: str | Path) -> bool:
    """Whether `path` is a folder that `save_reranker_ensemble` wrote."""
    return (Path(path) / ENSEMBLE_FILE).is_file()


def save_reranker_ensemble(
    out_dir: str | Path, parts: Sequence[str], weights: Sequence[float] | None = None,
    calibration: Mapping[str, Any] | None = None,
) -> Path:
    """Describe the parts (sub-folders of `out_dir`, already saved there) as one reranker.

    `calibration` (e.g. from `rerank.train.fusion.ensemble_thresholds`) is written as the ensemble's
    ``calibration.json``.

    Example:
        >>> save_reranker_ensemble("models/stage2", ["main", "vocab-32000"])  # doctest: +SKIP
        >>> CrossEncoderReranker.load("models/stage2").parts  # doctest: +SKIP
    """
    out_dir = Path(out_dir)
    weights = [1.0] * len(parts) if weights is None else [float(w) for w in weights]
    check_saved_parts(out_dir, parts, weights, "config.json", "cross-encoder")
    if calibration is not None:
        write_json_atomic(out_dir / CALIBRATION_FILE, calibration)
    write_ensemble(out_dir / ENSEMBLE_FILE, parts, weights)
    return out_dir


class RerankerEnsemble:
    """Several rerankers scoring the same candidates (a `retrieval.Reranker` made of others); the score
    is the activation of their weighted mean fused logit (each part's `fused_logits`: its own logit
    plus its calibrated stage-1 evidence).

    Args:
        parts: the rerankers (`rerank.CrossEncoderReranker`s: anything with `fused_logits`, `activation`,
            `stage1_weight`, `sentence_weight` and `info`), all with the same activation.
        name: the folder it was loaded from.
        weights: one positive weight per part (default: equal).
        calibration: the ensemble's ``calibration.json``; `threshold` comes from it.

    Example:
        >>> ensemble = CrossEncoderReranker.load("models/stage2")  # a folder with reranker_ensemble.json  # doctest: +SKIP
        >>> ensemble.score(["statins lower mortality"], [hits])  # doctest: +SKIP
    """

    def __init__(
        self, parts: Sequence[Reranker], name: str, weights: Sequence[float] | None = None,
        calibration: Mapping[str, Any] | None = None,
    ) -> None:
        weights = [1.0] * len(parts) if weights is None else [float(w) for w in weights]
        check_weights(parts, weights)
        activations = {p.activation for p in parts}
        if len(activations) != 1:
            raise ValueError(f"ensemble parts must share one activation (one or two labels each), got {sorted(activations)}")
        self.parts = list(parts)
        self.weights = weights
        self.name = str(name)
        self.activation = activations.pop()
        self.calibration = dict(calibration) if calibration else None
        self.threshold: float | None = float(calibration["threshold"]) if calibration else None
        self.last_stats: Any = None

    @property
    def stage1_weight(self) -> float:
        """The weighted mean of the parts' stage-1 weights (each part fuses its own)."""
        return float(np.average([p.stage1_weight for p in self.parts], weights=self.weights))

    @property
    def sentence_weight(self) -> float:
        """Nonzero when any part fuses sentence scores (the `Searcher` then supplies them)."""
        return float(max(p.sentence_weight for p in self.parts))

    def info(self) -> dict[str, Any]:
        """What this reranker is: its parts' `info`, weights, activation and threshold."""
        return {
            "name": self.name,
            "ensemble": [p.info() for p in self.parts],
            "weights": self.weights,
            "activation": self.activation,
            "threshold": self.threshold,
            "stage1_weight": self.stage1_weight,
            "sentence_weight": self.sentence_weight,
        }

    def fused_logits(self, queries: Sequence[str], candidates: Sequence[Sequence[Hit]]) -> list[np.ndarray]:
        """The weighted mean of the parts' fused logits, per query (float64)."""
        per_part = [p.fused_logits(queries, candidates) for p in self.parts]
        self.last_stats = getattr(self.parts[0], "last_stats", None)
        total = sum(self.weights)
        return [
            sum(w * np.asarray(rows[i], dtype=np.float64) for w, rows in zip(self.weights, per_part)) / total
            for i in range(len(candidates))
        ]

    def score(self, queries: Sequence[str], candidates: Sequence[Sequence[Hit]]) -> list[np.ndarray]:
        """Probabilities for each query's candidates: the activation of the mean fused logit."""
        return [scores_from_logits(row, self.activation).scores for row in self.fused_logits(queries, candidates)]
