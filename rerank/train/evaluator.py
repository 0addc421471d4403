"""Threshold metrics for a binary scorer, and the cross-encoder evaluator that logs them per epoch.

Every metric that needs a cut-off (accuracy, F1, F-beta, MCC) is reported at its own best threshold,
found by sorting the predicted probabilities and trying the midpoint between each pair of distinct
neighbours (plus "everything positive" and "everything negative"). Tied scores always fall on the
same side of a threshold, so ties cannot inflate a score: constant predictions give average
precision = the positive rate, MCC = 0, accuracy = the majority rate, and F1 = that of calling
everything positive.

The decision rule is ``positive <=> probability >= threshold``, the rule the Searcher's
``min_score`` cut-off applies.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sentence_transformers.base.evaluation.evaluator import BaseEvaluator

__all__ = ["ThresholdEvaluator", "ThresholdMetrics", "threshold_metrics"]


@dataclass(frozen=True)
class ThresholdMetrics:
    """Metrics of one set of predictions, each at its own best threshold.

    Example:
        >>> m = threshold_metrics([0, 1, 1], [0.1, 0.8, 0.6])
        >>> m.ap, m.f1, m.f1_threshold
        (1.0, 1.0, 0.35)
    """

    ap: float
    accuracy: float
    accuracy_threshold: float
    f1: float
    f1_threshold: float
    fbeta: float
    fbeta_threshold: float
    beta: float
    mcc: float
    mcc_threshold: float
    precision_at_f1: float
    recall_at_f1: float
    positives: int
    count: int

    def as_dict(self) -> dict[str, float]:
        return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in self.__dict__.items()}

    def thresholds(self) -> dict[str, float]:
        """The calibration thresholds, keyed as calibration.json stores them."""
        return {
            "f1": self.f1_threshold,
            "accuracy": self.accuracy_threshold,
            f"f{self.beta:g}": self.fbeta_threshold,
            "mcc": self.mcc_threshold,
        }


def _check(labels: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.float64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length ({y.size} vs {s.size}); pass one score per label")
    if y.size == 0:
        raise ValueError("no predictions to evaluate: the validation split is empty")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1 (binarise graded labels before evaluating)")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinity; the model diverged or the inputs are broken")
    return y.astype(np.int64), s


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)


def threshold_metrics(labels: Sequence[int], scores: Sequence[float], beta: float = 1.0) -> ThresholdMetrics:
    """AP, and accuracy/F1/F-beta/MCC each at its best threshold (midpoints between distinct neighbours).

    Args:
        labels: 0/1 relevance labels.
        scores: predicted probabilities (any monotone score works; thresholds are on its scale).
        beta: the F-beta weight of recall (beta > 1 favours recall).

    Returns:
        A `ThresholdMetrics`; the first best threshold wins a tie, scanning from high to low.

    Example:
        >>> threshold_metrics([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]).ap  # constant: the prior, not 1.0
        0.5
    """
    if beta <= 0:
        raise ValueError(f"beta must be positive, got {beta}")
    y, s = _check(labels, scores)
    n, pos = y.size, int(y.sum())
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    # Group ties: the last index of each run of equal scores is a place a threshold can fall.
    distinct = np.flatnonzero(np.diff(s_sorted) != 0)
    ends = np.r_[distinct, n - 1]
    tp = np.cumsum(y_sorted)[ends].astype(np.float64)
    fp = (ends + 1 - tp).astype(np.float64)
    # Thresholds: predicting the top groups positive means cutting between group i and group i+1.
    values = s_sorted[ends]
    lower = np.r_[values[1:], np.nan]
    mid = (values + lower) / 2.0
    # When neighbours are adjacent floats the midpoint can round onto the lower one; use the upper then.
    mid = np.where(np.isnan(mid) | (mid <= lower), values, mid)
    mid[-1] = values[-1]  # everything positive: the lowest score itself is the cut
    # Prepend the "nothing positive" option.
    tp = np.r_[0.0, tp]
    fp = np.r_[0.0, fp]
    cuts = np.r_[np.nextafter(values[0], np.inf), mid]
    fn = pos - tp
    tn = (n - pos) - fp

    precision = _safe_div(tp, tp + fp)
    recall = _safe_div(tp, np.full_like(tp, pos))
    accuracy = (tp + tn) / n
    f1 = _safe_div(2 * tp, 2 * tp + fp + fn)
    b2 = beta * beta
    fbeta = _safe_div((1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp)
    den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    mcc = _safe_div(tp * tn - fp * fn, den)

    # Average precision as sklearn defines it: sum over thresholds of (R_k - R_{k-1}) * P_k.
    ap = float(np.sum(np.diff(recall) * precision[1:])) if pos else 0.0

    def best(metric: np.ndarray) -> tuple[float, float, int]:
        i = int(np.argmax(metric))
        return float(metric[i]), float(cuts[i]), i

    acc_v, acc_t, _ = best(accuracy)
    f1_v, f1_t, f1_i = best(f1)
    fb_v, fb_t, _ = best(fbeta)
    mcc_v, mcc_t, _ = best(mcc)
    return ThresholdMetrics(
        ap=ap,
        accuracy=acc_v,
        accuracy_threshold=acc_t,
        f1=f1_v,
        f1_threshold=f1_t,
        fbeta=fb_v,
        fbeta_threshold=fb_t,
        beta=float(beta),
        mcc=mcc_v,
        mcc_threshold=mcc_t,
        precision_at_f1=float(precision[f1_i]),
        recall_at_f1=float(recall[f1_i]),
        positives=pos,
        count=n,
    )


def probabilities(logits: np.ndarray) -> tuple[np.ndarray, str]:
    """Positive-class probabilities from raw cross-encoder outputs, and the activation used.

    One logit per pair -> sigmoid; two per pair -> softmax, column 1 is "relevant".
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim == 1 or logits.shape[-1] == 1:
        return 1.0 / (1.0 + np.exp(-logits.reshape(-1))), "sigmoid"
    if logits.shape[-1] != 2:
        raise ValueError(f"a binary evaluator needs 1 or 2 outputs per pair, the model gives {logits.shape[-1]}")
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e[:, 1] / e.sum(axis=1), "softmax"


def log_loss(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean binary cross-entropy of probabilities (the BCE-with-logits loss, on the validation split)."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1 - 1e-12)
    y = np.asarray(labels, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


class ThresholdEvaluator(BaseEvaluator):
    """Scores a validation split of (query, passage, label) at every evaluation, and keeps the history.

    Use it as the ``evaluator`` of a ``CrossEncoderTrainer``: the primary metric is average precision,
    so ``metric_for_best_model="eval_<name>_ap"`` picks the epoch by AP. Every call appends one
    row to `history` (loss, AP, and each metric with its threshold).

    Args:
        pairs: (query, passage) pairs.
        labels: their 0/1 labels.
        beta: the F-beta weight.
        name: the metric prefix.
        batch_size: pairs per forward pass.

    Example:
        >>> ev = ThresholdEvaluator([("q", "p"), ("q", "n")], [1, 0])  # doctest: +SKIP
        >>> ev(CrossEncoder("path/to/model"))["val_ap"]  # doctest: +SKIP
        1.0
    """

    def __init__(
        self,
        pairs: Sequence[tuple[str, str]],
        labels: Sequence[int],
        beta: float = 2.0,
        name: str = "val",
        batch_size: int = 64,
    ) -> None:
        super().__init__()
        if len(pairs) != len(labels):
            raise ValueError(f"{len(pairs)} pairs but {len(labels)} labels")
        self.pairs = [(str(a), str(b)) for a, b in pairs]
        self.labels = np.asarray(labels, dtype=np.int64)
        _check(self.labels, np.zeros(len(self.labels)))
        self.beta = beta
        self.name = name
        self.batch_size = batch_size
        self.primary_metric = "ap"
        self.history: list[dict[str, Any]] = []
        self.activation = "sigmoid"

    def __call__(self, model: Any, output_path: str | None = None, epoch: float = -1, steps: int = -1) -> dict:
        import torch

        start = time.perf_counter()
        was_training = model.training
        logits = model.predict(
            self.pairs,
            batch_size=self.batch_size,
            activation_fn=torch.nn.Identity(),
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        if was_training:
            model.train()
        probs, self.activation = probabilities(logits)
        m = threshold_metrics(self.labels, probs, beta=self.beta)
        row = {
            "epoch": None if epoch is None or epoch < 0 else float(epoch),
            "step": int(steps),
            "loss": log_loss(self.labels, probs),
            **m.as_dict(),
            "seconds": time.perf_counter() - start,
        }
        self.history.append(row)
        metrics = {
            "loss": row["loss"],
            "ap": m.ap,
            "accuracy": m.accuracy,
            "accuracy_threshold": m.accuracy_threshold,
            "f1": m.f1,
            "f1_threshold": m.f1_threshold,
            f"f{self.beta:g}": m.fbeta,
            f"f{self.beta:g}_threshold": m.fbeta_threshold,
            "mcc": m.mcc,
            "mcc_threshold": m.mcc_threshold,
        }
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def best(self) -> dict[str, Any]:
        """The history row with the highest AP (the first one on a tie, as the trainer keeps it)."""
        if not self.history:
            raise RuntimeError("the evaluator has not run yet")
        scores = [r["ap"] if not math.isnan(r["ap"]) else -1.0 for r in self.history]
        return self.history[int(np.argmax(scores))]

    def get_config_dict(self) -> dict[str, Any]:
        return {"beta": self.beta, "pairs": len(self.pairs), "positives": int(self.labels.sum()), "scored": "logit"}
