"""What the pretrained recipe trains (`PretrainedBudget`), its presets, and what it hands back (`PretrainedModels`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rerank.train.config import CrossEncoderConfig
from retrieval.train.config import BiEncoderConfig

__all__ = ["DEFAULT", "FAST", "PRESETS", "STAGE1_FIELDS", "PretrainedBudget", "PretrainedModels"]

# The `BiEncoderConfig` fields the recipe's stage 1 reads.
STAGE1_FIELDS = (
    "max_seq_length", "epochs", "batch_size", "learning_rate", "warmup_ratio", "label_repeats", "depth", "skip_top",
    "margin", "num_negatives",
)
# `CrossEncoderConfig` fields that only shape a model built from scratch (the recipe fine-tunes one).
_SCRATCH_ONLY = ("model", "architecture", "tokenizer", "shape", "init_embeddings", "train_embeddings", "embedding_learning_rate")


@dataclass(frozen=True)
class PretrainedBudget:
    """How much of each stage to fine-tune from a pretrained bi-encoder (the base).

    Args:
        name: a label recorded in the recipe (not part of the cache key; the settings are).
        bi_encoder: stage 1 with labels; the recipe reads `STAGE1_FIELDS`: `max_seq_length`, `epochs`,
            `batch_size`, `learning_rate`, `warmup_ratio`, `label_repeats` and the mining settings
            `depth`, `skip_top`, `margin`, `num_negatives` (hard negatives per labelled pair, from the
            zero-shot index). Without labels stage 1 is not trained.
        cross_encoder: stage 2 with labels; its `model` is set to the base (a one-logit head on the
            base's body), its `depth` is the candidate depth it trains, validates and is calibrated on.
        corpus_cross_encoder: stage 2 without labels (pseudo-queries from the corpus), or None (the
            presets) to train no cross-encoder without labels: on pseudo-queries it fell far below the
            zero-shot stage 1 it reranked (docs/pretrained.md), so a corpus-only run's Searcher is the
            zero-shot stage 1 alone.
        pseudo_per_doc: without labels, sentences drawn per document as pseudo-queries (titles too).
        pseudo_limit: at most this many pseudo-queries.
    """

    name: str
    bi_encoder: BiEncoderConfig
    cross_encoder: CrossEncoderConfig
    corpus_cross_encoder: CrossEncoderConfig | None = None
    pseudo_per_doc: int = 1
    pseudo_limit: int | None = 1500

    def __post_init__(self) -> None:
        for part in (self.cross_encoder, self.corpus_cross_encoder):
            if part is not None and (part.num_labels != 1 or not part.fuse_stage1 or part.stage1_offset):
                raise ValueError(
                    "the pretrained recipe trains one-logit cross-encoders on the text alone, fused with stage 1 "
                    "(num_labels=1, fuse_stage1=True, stage1_offset=0)"
                )

    def stage2(self, labelled: bool) -> CrossEncoderConfig | None:
        """The stage-2 recipe of a run with or without labels (None: no cross-encoder is trained)."""
        return self.cross_encoder if labelled else self.corpus_cross_encoder

    def settings(self, labelled: bool) -> dict[str, Any]:
        """The settings a run with or without labels reads (what its cache key hashes)."""
        stage2 = self.stage2(labelled)
        cross_encoder = None if stage2 is None else {k: v for k, v in stage2.to_dict().items() if k not in _SCRATCH_ONLY}
        if cross_encoder is not None and cross_encoder["head"] == "cls":  # keys made before the option existed
            del cross_encoder["head"]
        if labelled:
            bi_encoder = self.bi_encoder.to_dict()
            stage1 = {k: bi_encoder[k] for k in STAGE1_FIELDS} | ({"bf16": True} if bi_encoder["bf16"] else {})
            return {"bi_encoder": stage1, "cross_encoder": cross_encoder}
        if cross_encoder is None:
            return {"cross_encoder": None}
        return {"cross_encoder": cross_encoder, "pseudo_per_doc": self.pseudo_per_doc, "pseudo_limit": self.pseudo_limit}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class PretrainedModels:
    """The models (ordinary SentenceTransformer / CrossEncoder folders) and how they were made.

    `encoder_path` is the fine-tuned stage 1, or without labels the base itself (its verified
    snapshot); `reranker_path` the fine-tuned cross-encoder, whose ``calibration.json`` fuses that
    stage 1's scores (None when the run trained none: corpus only, `PretrainedBudget.corpus_cross_encoder`);
    `base_path` the base's folder (the zero-shot model).
    """

    encoder_path: Path
    reranker_path: Path | None
    base_path: Path
    train_seconds: dict[str, float] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)


# Stage 2: the base's body, the mean of the pair's token vectors (the pooling the body was trained with as a
# bi-encoder) and a new one-logit linear head, BCEWithLogitsLoss, two epochs on each query's positives and 3
# negatives sampled from the top 20 of the stage 1 it will rerank (the best-AP epoch kept); the stage-1
# weight is the best on held-out queries' top-20 lists (`rerank.train.fusion`). Head and rule were chosen
# by cross-validation over the held-out training queries (docs/pretrained.md, "Recipe v4").
_CROSS_ENCODER = CrossEncoderConfig(
    num_labels=1, head="mean", max_length=128, epochs=2, batch_size=16, learning_rate=1e-4, negatives_per_query=3,
    depth=20, validation_fraction=0.1, fuse_stage1=True, weight_rule="best",
)

# SciFact-sized (5k abstracts, 809 train queries) on 2 CPU cores. Stage 1 with labels: two epochs of
# MultipleNegativesRankingLoss on (query, positive, hard negative), the negative from zero-shot ranks
# 4-30 with no margin (cosine lies in [-1, 1], so -2 keeps every candidate that is not labelled relevant).
DEFAULT = PretrainedBudget(
    name="default",
    bi_encoder=BiEncoderConfig(
        learning_rate=1e-4, epochs=2, batch_size=32, max_seq_length=256, use_titles=False, sentences_per_doc=0,
        depth=30, skip_top=3, margin=-2.0, num_negatives=1,
    ),
    cross_encoder=_CROSS_ENCODER,
    corpus_cross_encoder=None,
    pseudo_per_doc=1,
    pseudo_limit=1500,
)

# Seconds on tiny data: used by the tests.
FAST = PretrainedBudget(
    name="fast",
    bi_encoder=BiEncoderConfig(
        learning_rate=1e-4, epochs=1, batch_size=8, max_seq_length=64, use_titles=False, sentences_per_doc=0,
        depth=10, skip_top=1, margin=-2.0, num_negatives=1,
    ),
    cross_encoder=dataclasses.replace(
        _CROSS_ENCODER, max_length=64, batch_size=8, negatives_per_query=2, depth=10, validation_fraction=0.25
    ),
    pseudo_limit=40,
)

# The registry `benchmarks.models.resolve_models` reads (by the run's `scratch_budget` name).
PRESETS: dict[str, PretrainedBudget] = {"default": DEFAULT, "fast": FAST}
