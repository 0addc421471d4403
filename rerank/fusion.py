"""Stage-1 evidence inside the reranker's score: ``logit + weight * z``.

`z` is the stage-1 score standardised by the mean and standard deviation of stage-1 scores over
the held-out candidate lists it was calibrated on, so the weight means the same for any
retriever's score scale, and each pair's fused score depends on that pair alone (reranking the top
10 or the top 100 gives the top 10 the same scores). The fused logit goes through the usual
activation, so the reranker's score stays a probability (and its calibrated thresholds are fitted
on fused scores). Interpolating the first stage's score with the reranker's
is standard practice for rerankers trained on little data; the weight is chosen on held-out
training queries, never on test queries, and weight 0 is the plain cross-encoder.

A second stage-1 score can be fused the same way: the best similarity of the query to any one
sentence of the candidate (`retrieval.sentences`), with its own weight and standardisation; the two
weights are then chosen together on a grid. Choosing them is training's part
(`rerank.train.stage1_weight`); this module applies them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["fuse_stage1", "stage1_z"]


def stage1_z(scores: Sequence[float] | np.ndarray, mean: float, std: float) -> np.ndarray:
    """Stage-1 scores standardised with the calibrated mean and standard deviation.

    Example:
        >>> stage1_z([0.7, 0.5], mean=0.5, std=0.1).round(6).tolist()
        [2.0, 0.0]
    """
    if not std > 0:
        raise ValueError(f"the stage-1 standard deviation must be positive, got {std!r}")
    return (np.asarray(scores, dtype=np.float64).reshape(-1) - mean) / std


def fuse_stage1(
    logits: np.ndarray, stage1_scores: Sequence[float] | np.ndarray, weight: float, mean: float = 0.0, std: float = 1.0
) -> np.ndarray:
    """Logits with ``weight * (stage1_scores - mean) / std`` added to the relevance logit.

    Shape ``[n]`` or ``[n, 1]`` (one logit) or ``[n, 2]`` (two logits: added to class 1's, so the
    softmax probability of "relevant" moves as the sigmoid's would). Float64: with a large weight the
    fused logits pass 17, where a float32 sigmoid rounds to exactly 1.0 and ties the top candidates.

    Example:
        >>> fuse_stage1(np.array([0.0, 0.0]), [2.0, 1.0], 0.5, mean=1.5, std=0.5).tolist()
        [0.5, -0.5]
    """
    out = np.array(logits, dtype=np.float64, copy=True)
    if not weight:
        return out
    if len(stage1_scores) != len(out):
        raise ValueError(f"{len(out)} logits but {len(stage1_scores)} stage-1 scores; pass one per candidate")
    z = weight * stage1_z(stage1_scores, mean, std)
    if out.ndim == 2 and out.shape[1] == 2:
        out[:, 1] += z
    else:
        out.reshape(len(out), -1)[:, 0] += z
    return out
