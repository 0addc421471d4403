"""Stage 1's training loop: MultipleNegativesRankingLoss on (anchor, positive, negative) triplets.

The same trainer setup as `retrieval.train.bi_encoder` (no-duplicates batches, linear warm-up, CPU),
on triplets mined before training instead of pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from retrieval.train.config import BiEncoderConfig

__all__ = ["fit_triplets"]


def fit_triplets(
    model: Any, triplets: Sequence[tuple[str, str, str]], config: BiEncoderConfig, work_dir: Path, show_progress: bool
) -> list[dict[str, float]]:
    """Train `model` in place for `config.epochs` on the triplets; returns the logged losses.

    Each batch's other positives and negatives are in-batch negatives too; `config.batch_size`,
    `learning_rate`, `warmup_ratio` and `seed` set the schedule.
    """
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from retrieval.train.hf_trainer import quiet_console, shared_arguments

    dataset = Dataset.from_dict(
        {"anchor": [t[0] for t in triplets], "positive": [t[1] for t in triplets], "negative": [t[2] for t in triplets]}
    )
    args = SentenceTransformerTrainingArguments(
        output_dir=str(work_dir / "trainer"),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=min(config.batch_size, len(dataset)),
        learning_rate=config.lr,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a share of the steps (transformers v5)
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        seed=config.seed,
        data_seed=config.seed,
        save_strategy="no",
        logging_steps=max(1, len(dataset) // config.batch_size // 4),
        **shared_arguments(show_progress),
    )
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=dataset, loss=MultipleNegativesRankingLoss(model)
    )
    quiet_console(trainer, show_progress).train()
    return [
        {"epoch": float(r["epoch"]), "step": int(r["step"]), "loss": float(r["loss"])}
        for r in trainer.state.log_history
        if "loss" in r
    ]
