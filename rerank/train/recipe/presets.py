"""The recipe's presets, by name: `PRESETS["default"]` for SciFact-sized corpora, `PRESETS["fast"]` for tests.

Why each setting is what it is, with the measurements that chose it, is in ``docs/recipe.md``.
"""

from __future__ import annotations

from dataclasses import replace

from rerank.train.config import CrossEncoderConfig
from rerank.train.recipe.budget import RecipeBudget
from retrieval.train.config import BiEncoderConfig

__all__ = ["DEFAULT", "FAST", "PRESETS"]

# Stage 2's residual offset (`rerank.train.residual`): stage 1's z-score times this sits in the loss,
# with labels and without.
RESIDUAL_OFFSET = 5.0
CORPUS_RESIDUAL_OFFSET = 3.0
# With labels, stage 2's learning rate.
RESIDUAL_LEARNING_RATE = 3e-3
# Without labels, stage 2's epochs.
CORPUS_RERANKER_EPOCHS = 1

# Seconds on tiny data: used by the tests.
FAST = RecipeBudget(
    name="fast",
    bi_encoder=BiEncoderConfig(dim=32, epochs=1, mining_rounds=1, batch_size=16, sentences_per_doc=1),
    cross_encoder=CrossEncoderConfig(
        architecture="kernel", max_length=64, epochs=2, batch_size=16, negatives_per_query=3, depth=10,
        validation_fraction=0.25, fuse_stage1=True,
    ),
    vocab_size=300,
    pseudo_limit=60,
)

# Stage 2: a K-NRM cross-encoder (`rerank.kernel_model`) on stage 1's fixed token vectors and the
# corpus IDF, hard negatives from stage 1's top 30, with a stage-1 weight chosen on held-out
# training queries.
_KERNEL_RERANKER = CrossEncoderConfig(
    architecture="kernel", max_length=512, epochs=4, batch_size=32, negatives_per_query=8, depth=100,
    negative_depth=30, train_embeddings=False, fuse_stage1=True,
)

# The SciFact-sized default (5k documents). Stage 1: StaticEmbedding members (512-d, IDF-scaled
# start) joined into one model, 3 with labels; without labels 4 members on each of three corpus
# vocabularies (16,000 pieces, the recipe's, then 32,000 and 8,000), an encoder ensemble. Stage 2
# trains as a residual of stage 1: with labels its offsets come from a stage 1 cross-fitted on the
# training queries (`residual_folds`), sentence scores are fused, the stage-1 weight is
# cross-validated and stage 1 is refit on every labelled query at the end; without labels the
# pseudo-queries are sentences stage 1 never trained on, and stage 2 is one reranker per stage-1
# vocabulary.
DEFAULT = RecipeBudget(
    name="default",
    bi_encoder=BiEncoderConfig(dim=512, epochs=5, mining_rounds=2, batch_size=256, label_repeats=5, members=3),
    corpus_bi_encoder=BiEncoderConfig(
        dim=512, epochs=5, mining_rounds=2, batch_size=1024, sentences_per_doc=4, members=4, vocab_sizes=(32_000, 8_000)
    ),
    cross_encoder=replace(
        _KERNEL_RERANKER, stage1_offset=RESIDUAL_OFFSET, learning_rate=RESIDUAL_LEARNING_RATE, fuse_sentences=True
    ),
    corpus_cross_encoder=replace(_KERNEL_RERANKER, stage1_offset=CORPUS_RESIDUAL_OFFSET, epochs=CORPUS_RERANKER_EPOCHS),
    pseudo_limit=1000,
    refit_stage1=True,
    cross_validate_weight=True,
    reranker_per_vocabulary=True,
)

# The registry `python -m benchmarks.run --scratch-budget NAME` reads.
PRESETS: dict[str, RecipeBudget] = {"default": DEFAULT, "fast": FAST}
