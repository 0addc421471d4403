"""Stage 1's training on (anchor, positive, negative) triplets mined before training.

`retrieval.train.bi_encoder.fit_mnrl` (MultipleNegativesRankingLoss, no-duplicates batches, linear
warm-up, CPU) on triplets instead of pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from retrieval.train.bi_encoder import fit_mnrl
from retrieval.train.config import BiEncoderConfig

__all__ = ["fit_triplets"]


def fit_triplets(
    model: Any, triplets: Sequence[tuple[str, str, str]], config: BiEncoderConfig, work_dir: Path, show_progress: bool
) -> list[dict[str, float]]:
    """Train `model` in place for `config.epochs` on the triplets; returns the logged losses.

    Each batch's other positives and negatives are in-batch negatives too; `config.batch_size`,
    `learning_rate`, `warmup_ratio` and `seed` set the schedule.
    """
    rows = {
        "anchor": [t[0] for t in triplets],
        "positive": [t[1] for t in triplets],
        "negative": [t[2] for t in triplets],
    }
    return fit_mnrl(model, rows, config.epochs, config, work_dir, show_progress)
