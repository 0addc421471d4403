"""The output conventions of cross-encoders: from logits to probabilities, classes and ranking scores.

- One logit (``num_labels=1``): the activation is the sigmoid; the probability is the ranking score,
  and the class is 1 when that probability is at least 0.5.
- Two logits (``num_labels=2``): the activation is the softmax; the class is the argmax, and the
  probability of class 1 ("relevant") is the ranking score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ACTIVATIONS", "PairScores", "activation_for", "scores_from_logits"]

ACTIVATIONS = ("sigmoid", "softmax")


def activation_for(num_labels: int) -> str:
    """The activation a cross-encoder with `num_labels` outputs is read with.

    Example:
        >>> activation_for(1), activation_for(2)
        ('sigmoid', 'softmax')
    """
    if num_labels == 1:
        return "sigmoid"
    if num_labels == 2:
        return "softmax"
    raise ValueError(
        f"a reranker needs a cross-encoder with num_labels 1 (one relevance logit) or 2 (irrelevant, relevant); "
        f"this one has {num_labels} labels (an NLI or multi-class model?) and no single relevance score"
    )


@dataclass(frozen=True)
class PairScores:
    """Everything a cross-encoder says about a list of (query, passage) pairs.

    Attributes:
        logits: the raw outputs, shape ``[n]`` for one logit, ``[n, 2]`` for two.
        probabilities: ``sigmoid(logits)`` (shape ``[n]``) or the softmax rows (shape ``[n, 2]``).
        labels: the predicted class per pair (argmax; for one logit, 1 when the probability >= 0.5).
        scores: the ranking score per pair, the probability of class 1, shape ``[n]``.
        activation: ``"sigmoid"`` or ``"softmax"``.
    """

    logits: np.ndarray
    probabilities: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    activation: str


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def scores_from_logits(logits: np.ndarray, activation: str) -> PairScores:
    """Apply the activation to a cross-encoder's logits.

    Example:
        >>> s = scores_from_logits(np.array([[0.0, 2.0], [1.0, -1.0]]), "softmax")
        >>> s.labels.tolist(), round(float(s.scores[0]), 3)
        ([1, 0], 0.881)
    """
    logits = np.asarray(logits)
    # Float64 logits (fused with stage 1, `rerank.fusion`) keep float64: a float32 sigmoid is exactly 1.0
    # from a logit of about 17 on, which would tie every candidate past it.
    logits = logits.astype(np.float64 if logits.dtype == np.float64 else np.float32)
    if activation == "sigmoid":
        flat = logits if logits.ndim == 2 else logits.reshape(-1, 1)
        if flat.ndim != 2 or flat.shape[1] != 1:
            raise ValueError(f"sigmoid reads one logit per pair, got shape {logits.shape}")
        flat = flat[:, 0]
        probabilities = _sigmoid(flat)
        return PairScores(flat, probabilities, (probabilities >= 0.5).astype(np.int64), probabilities, activation)
    if activation == "softmax":
        if logits.ndim != 2 or logits.shape[1] != 2:
            raise ValueError(f"softmax reads two logits per pair, got shape {logits.shape}")
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = shifted / shifted.sum(axis=1, keepdims=True)
        return PairScores(logits, probabilities, probabilities.argmax(axis=1), probabilities[:, 1].copy(), activation)
    raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
