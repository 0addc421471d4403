"""An ensemble of stage-2 rerankers: the weighted mean of their fused logits.

Without labels the recipe's stage 1 is an ensemble of vocabularies (`retrieval.encoder_ensemble`);
stage 2 then trains one kernel reranker on each part's tokenizer and token vectors, and their
averaged logits rank better than any one of them (on SciFact, corpus only; the figures are in
``benchmarks/RESULTS.md``). Each part fuses its own calibrated stage-1 evidence first
(`rerank.fusion`), so the mean is taken over what each part would score alone; the activation
then makes it a probability, and the ensemble's own threshold (fitted on those probabilities) is
the Searcher's calibrated cut-off.

On disk an ensemble is a folder with ``reranker_ensemble.json`` (the parts' sub-folders and
weights) and ``calibration.json`` (the ensemble's thresholds) beside the parts, each an ordinary
cross-encoder folder that ``CrossEncoder(path)`` loads. `CrossEncoderReranker.load` opens either
kind of folder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rerank.calibration import CALIBRATION_FILE, read_calibration
from rerank.outputs import scores_from_logits
from retrieval.encoder_ensemble import check_saved_parts, check_weights, write_json_atomic
from retrieval.types import Hit

__all__ = ["ENSEMBLE_FILE", "RerankerEnsemble", "ensemble_thresholds", "is_reranker_ensemble", "save_reranker_ensemble"]

ENSEMBLE_FILE = "reranker_ensemble.json"
FORMAT_VERSION = 1


def is_reranker_ensemble(path: str | Path) -> bool:
    """Whether `path` is a folder that `save_reranker_ensemble` wrote."""
    return (Path(path) / ENSEMBLE_FILE).is_file()


def save_reranker_ensemble(
    out_dir: str | Path, parts: Sequence[str], weights: Sequence[float] | None = None,
    calibration: Mapping[str, Any] | None = None,
) -> Path:
    """Describe the parts (sub-folders of `out_dir`, already saved there) as one reranker.

    `calibration` (e.g. from `ensemble_thresholds`) is written as the ensemble's ``calibration.json``.

    Example:
        >>> save_reranker_ensemble("models/stage2", ["main", "vocab-32000"])  # doctest: +SKIP
        >>> CrossEncoderReranker.load("models/stage2").parts  # doctest: +SKIP
    """
    out_dir = Path(out_dir)
    weights = [1.0] * len(parts) if weights is None else [float(w) for w in weights]
    check_saved_parts(out_dir, parts, weights, "config.json", "cross-encoder")
    if calibration is not None:
        write_json_atomic(out_dir / CALIBRATION_FILE, calibration)
    write_json_atomic(out_dir / ENSEMBLE_FILE, {"format_version": FORMAT_VERSION, "parts": list(parts), "weights": weights})
    return out_dir


class RerankerEnsemble:
    """Several rerankers scoring the same candidates; the score is the activation of their weighted
    mean fused logit (each part's `fused_logits`: its own logit plus its calibrated stage-1 evidence).

    Args:
        parts: the rerankers (`rerank.CrossEncoderReranker`), all with the same activation.
        name: the folder it was loaded from.
        weights: one positive weight per part (default: equal).
        calibration: the ensemble's ``calibration.json``; `threshold` comes from it.

    Example:
        >>> ensemble = CrossEncoderReranker.load("models/stage2")  # a folder with reranker_ensemble.json  # doctest: +SKIP
        >>> ensemble.score(["statins lower mortality"], [hits])  # doctest: +SKIP
    """

    def __init__(
        self, parts: Sequence[Any], name: str, weights: Sequence[float] | None = None,
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

    @classmethod
    def load(cls, path: str | Path, **options: Any) -> RerankerEnsemble:
        """Open a folder written by `save_reranker_ensemble`; `options` go to every part's
        `CrossEncoderReranker.load`."""
        from rerank.cross_encoder import CrossEncoderReranker

        folder = Path(path)
        spec = json.loads((folder / ENSEMBLE_FILE).read_text())
        if spec.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{folder / ENSEMBLE_FILE}: unknown format_version {spec.get('format_version')!r}")
        parts = [CrossEncoderReranker.load(str(folder / part), **options) for part in spec["parts"]]
        return cls(parts, str(path), spec["weights"], read_calibration(folder))

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


def ensemble_thresholds(
    ensemble: RerankerEnsemble, labelled: Sequence[tuple[str, Sequence[Hit], Sequence[int]]], beta: float = 1.0,
) -> dict[str, Any]:
    """The ensemble's calibration: best-threshold metrics of its probabilities on labelled lists.

    `labelled`: (query, hits with their stage-1 scores, 0/1 relevance per hit) per held-out query.
    The thresholds are `rerank.evaluator.threshold_metrics`'s (midpoints between sorted neighbours).
    """
    from rerank.evaluator import threshold_metrics

    if not labelled:
        raise ValueError("no labelled lists to calibrate the ensemble on")
    scores = ensemble.score([q for q, _, _ in labelled], [hits for _, hits, _ in labelled])
    probs = np.concatenate(scores)
    labels = [int(y) for _, _, ys in labelled for y in ys]
    m = threshold_metrics(labels, probs, beta=beta)
    return {
        "threshold": float(m.f1_threshold),
        "metric": "f1",
        "thresholds": {k: float(v) for k, v in m.thresholds().items()},
        "activation": ensemble.activation,
        "beta": beta,
        "stage1_weight": ensemble.stage1_weight,
        "validation_fused": {k: float(getattr(m, k)) for k in ("ap", "f1", "fbeta", "mcc", "accuracy")} | {"rows": len(labels)},
        "ensemble": {"parts": [Path(p.name).name for p in ensemble.parts], "weights": ensemble.weights,
                     "note": "score = activation(weighted mean of the parts' fused logits)"},
    }
