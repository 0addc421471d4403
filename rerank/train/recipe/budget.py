"""What the from-scratch recipe trains (`RecipeBudget`) and what it hands back (`ScratchModels`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rerank.train.config import CrossEncoderConfig
from retrieval.train.config import BiEncoderConfig

__all__ = ["RecipeBudget", "ScratchModels"]


@dataclass(frozen=True)
class RecipeBudget:
    """How much of each stage to train (both configs' seeds are replaced by `scratch_models`' seed).

    Args:
        name: a label recorded in the recipe.
        bi_encoder: the stage-1 recipe (its tokenizer is replaced by the corpus-trained one).
        corpus_bi_encoder: the stage-1 recipe without labels; None uses `bi_encoder`.
        cross_encoder: the stage-2 recipe (its tokenizer, and initial embeddings when
            `init_from_stage1`, come from stage 1).
        corpus_cross_encoder: the stage-2 recipe without labels; None uses `cross_encoder`.
        vocab_size: WordPiece vocabulary trained on the corpus.
        merge_inflections: that vocabulary encodes inflected words as base word + suffix piece
            (`retrieval.train.tokenizer.inflected_words`), so both stages match "cells" to "cell".
        init_from_stage1: initialise the cross-encoder's word embeddings from the static stage-1 model.
        pseudo_per_doc: without labels, pseudo-queries (sentences) drawn per document for stage 2 (the
            ones stage 1 trained on are then dropped).
        pseudo_limit: at most this many pseudo-queries (fewer may be left once stage 1's anchors are dropped).
        pseudo_with_labels: with labels, also train stage 2 on up to this many pseudo-queries (sentences
            stage 1 did not train on); 0 trains it on the labelled queries alone.
        residual_folds: with labels and a residual reranker (`stage1_offset`), stage 1 is cross-fitted:
            the stage-2 training queries are split into this many folds, and a stage 1 trained
            without a fold scores that fold's rows (the recipe's own stage 1 trained on them all).
        refit_stage1: with labels, once stage 2 is trained and its stage-1 weight chosen on the
            queries held out of stage 1, train stage 1 again on every labelled query and save that
            one, with the reranker's stage-1 standardisation carried to the refit stage 1's scale
            through corpus sentences neither stage 1 trained on (`rerank.train.fusion.restandardise_stage1`).
        cross_validate_weight: with labels and cross-fitted stage 1s, choose the stage-1 weight on
            every labelled query: per fold, a reranker trained without the fold's queries scores
            their lists from the fold's stage 1, beside the held-out queries' lists scored by the
            recipe's reranker. Without it the weight is chosen on the held-out queries alone.
        reranker_per_vocabulary: without labels, when stage 1 is an ensemble of vocabularies
            (`BiEncoderConfig.vocab_sizes`, static, initialised from stage 1), train one reranker on
            each part's tokenizer and token vectors, on the same rows, and save them as one
            `rerank.reranker_ensemble` (the mean of their fused logits; its thresholds fitted on the
            validation rows' ensemble probabilities). The part on the recipe's tokenizer is the
            reranker the recipe trains without this option.
    """

    name: str
    bi_encoder: BiEncoderConfig
    cross_encoder: CrossEncoderConfig
    corpus_bi_encoder: BiEncoderConfig | None = None
    corpus_cross_encoder: CrossEncoderConfig | None = None
    vocab_size: int = 16_000
    merge_inflections: bool = True
    init_from_stage1: bool = True
    pseudo_per_doc: int = 3
    pseudo_limit: int | None = 4000
    pseudo_with_labels: int = 0
    residual_folds: int = 2
    refit_stage1: bool = False
    cross_validate_weight: bool = False
    reranker_per_vocabulary: bool = False

    def __post_init__(self) -> None:
        if self.residual_folds < 2:
            raise ValueError(f"residual_folds must be at least 2, got {self.residual_folds}")

    def to_dict(self) -> dict[str, Any]:
        """Every field, the configs as dicts (None where a corpus recipe is not set)."""
        return dataclasses.asdict(self)

    def stage1(self, labelled: bool) -> BiEncoderConfig:
        """The stage-1 recipe of a run with or without labels."""
        return self.bi_encoder if labelled or self.corpus_bi_encoder is None else self.corpus_bi_encoder

    def stage2(self, labelled: bool) -> CrossEncoderConfig:
        """The stage-2 recipe of a run with or without labels."""
        return self.cross_encoder if labelled or self.corpus_cross_encoder is None else self.corpus_cross_encoder


@dataclass(frozen=True)
class ScratchModels:
    """The trained models (ordinary SentenceTransformer / CrossEncoder folders) and how they were made."""

    encoder_path: Path
    reranker_path: Path
    train_seconds: dict[str, float] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)
