"""The recipe's steps, in the order `rerank.train.recipe.run.scratch_models` takes them.

Each step reads what the earlier ones left on the `RecipeRun` and adds its own result (and its
seconds to `RecipeRun.seconds`). Test queries never reach a step: `qrels` is the train split.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rerank.train.recipe.budget import RecipeBudget

__all__ = [
    "RecipeRun", "cross_fit_stage1", "cross_validate_weight", "refit_stage1", "stage2_data", "train_stage1",
    "train_stage2", "train_tokenizer",
]

# Queries (corpus sentences neither stage 1 trained on) that carry the stage-1 z-scale to a refit stage 1.
TRANSFER_QUERIES = 300


@dataclass
class RecipeRun:
    """One run of the recipe: its inputs, then what each step made."""

    folder: Path
    docs: list[Any]
    budget: RecipeBudget
    seed: int
    queries: dict[str, str] | None
    qrels: dict[str, dict[str, int]] | None
    show_progress: bool
    seconds: dict[str, float] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    tokenizer: Path | None = None
    held: set[str] = field(default_factory=set)  # labelled queries held out of stage 1 (stage 2 validates on them)
    bi_config: Any = None
    refit: bool = False
    stage1_dir: Path | None = None
    stage1: Any = None  # `retrieval.train.bi_encoder.BiEncoderResult`
    anchors: set[str] = field(default_factory=set)  # every stage-1 member's corpus-pair anchors
    scorers: list[tuple[list[str], Any]] | None = None  # cross-fitted stage 1s, with labels
    encoder: Any = None
    index: Any = None
    from_stage1: bool = False
    ce_config: Any = None
    data: Any = None  # `rerank.train.examples.Stage2Data`
    evidence: list[Any] = field(default_factory=list)
    stage2: Any = None  # `rerank.train.trainer.CrossEncoderResult`

    def __post_init__(self) -> None:
        from retrieval.encoder import document_text

        self.texts = {d.doc_id: document_text(d) for d in self.docs}
        self.titles = {d.doc_id: d.title for d in self.docs}

    @property
    def labelled(self) -> bool:
        return bool(self.qrels)

    def stage1_qrels(self) -> dict[str, dict[str, int]] | None:
        """The labels stage 1 trains on: all but the held-out queries' (None without labels)."""
        return {q: rels for q, rels in self.qrels.items() if q not in self.held} if self.labelled else None

    def load_encoder(self, path: Path) -> Any:
        from retrieval.encoder import BULK_ENCODING, Encoder

        return Encoder.load(str(path), device="cpu", batch_size=128, **BULK_ENCODING)


def train_tokenizer(run: RecipeRun) -> None:
    """A WordPiece tokenizer on the corpus, shared by both stages."""
    from retrieval.train.tokenizer import train_wordpiece

    started = time.perf_counter()
    run.tokenizer = train_wordpiece(
        list(run.texts.values()), run.folder / "tokenizer", vocab_size=run.budget.vocab_size,
        merge_inflections=run.budget.merge_inflections,
    )
    run.seconds["tokenizer"] = time.perf_counter() - started


def train_stage1(run: RecipeRun) -> None:
    """Stage 1, without the queries stage 2 validates on (the stage-1 weight is chosen on them, and
    stage 1 ranks the queries it trained on far better than any new one)."""
    from rerank.train.data import hold_out_queries
    from retrieval.train.bi_encoder import corpus_anchors, train_bi_encoder

    budget, labelled = run.budget, run.labelled
    run.held = hold_out_queries(run.qrels, budget.cross_encoder.validation_fraction, run.seed) if labelled else set()
    run.bi_config = replace(budget.stage1(labelled), tokenizer=str(run.tokenizer), seed=run.seed, use_labels=labelled)
    run.refit = labelled and bool(run.held) and budget.refit_stage1
    run.stage1_dir = run.folder / ("encoder-heldout" if run.refit else "encoder")
    run.stage1 = train_bi_encoder(
        run.docs, run.stage1_dir, run.bi_config, run.queries, run.stage1_qrels(), run.show_progress
    )
    run.seconds["stage1"] = run.stage1.seconds
    run.anchors = corpus_anchors(run.docs, run.bi_config)


def cross_fit_stage1(run: RecipeRun) -> None:
    """With labels and a residual reranker: per fold, a stage 1 trained without the fold's queries."""
    from rerank.train.recipe.folds import cross_fitted_stage1

    if run.labelled and run.budget.stage2(True).stage1_offset:
        run.scorers, run.seconds["stage1_cross_fit"] = cross_fitted_stage1(
            run.docs, run.folder, run.bi_config, run.queries, run.stage1_qrels(), run.budget.residual_folds,
            run.seed, run.show_progress,
        )


def stage2_data(run: RecipeRun) -> None:
    """Stage 2's rows, negatives from stage 1's candidates. Without labels its pseudo-queries are
    sentences stage 1 did not train on (with labels too, for the pseudo-queries mixed in)."""
    from rerank.train.examples import stage2_examples
    from retrieval.indexing import build_index
    from retrieval.train.bi_encoder import static_part

    budget, labelled, bi_config = run.budget, run.labelled, run.bi_config
    started = time.perf_counter()
    run.encoder = run.load_encoder(run.stage1.path)
    run.index = build_index(run.docs, run.encoder, show_progress=run.show_progress)
    run.from_stage1 = budget.init_from_stage1 and bi_config.model is None and bi_config.architecture == "static"
    init = str(static_part(run.stage1.path)) if run.from_stage1 else None  # the part on the reranker's tokenizer
    run.ce_config = replace(budget.stage2(labelled), tokenizer=str(run.tokenizer), init_embeddings=init, seed=run.seed)
    mix = budget.pseudo_with_labels if labelled else 0
    run.data = stage2_examples(
        run.docs, run.encoder, run.index, run.ce_config, run.queries if labelled else None,
        run.qrels if labelled else None, pseudo_per_doc=budget.pseudo_per_doc, pseudo_limit=budget.pseudo_limit,
        held_out=run.held, exclude_anchors=run.anchors if mix or not labelled else set(), pseudo_with_labels=mix,
        stage1_scorers=run.scorers,
    )
    run.seconds["stage2_candidates"] = time.perf_counter() - started


def cross_validate_weight(run: RecipeRun) -> None:
    """With cross-fitted stage 1s: per fold, a reranker's held-out lists to choose the stage-1 weight on
    as well; then the fold stage 1s are deleted."""
    from rerank.train.recipe.folds import cross_validated_weight_evidence

    if run.scorers is not None and run.budget.cross_validate_weight and run.ce_config.fuse_stage1:
        run.evidence, run.seconds["stage2_cross_validation"] = cross_validated_weight_evidence(
            run.docs, run.folder, run.data, run.scorers, run.ce_config, run.queries, run.qrels, run.show_progress
        )
    for path in sorted(run.folder.glob("encoder-fold*")):
        shutil.rmtree(path, ignore_errors=True)


def train_stage2(run: RecipeRun) -> None:
    """The reranker: one, or without labels over an ensemble stage 1 one per vocabulary."""
    from rerank.train.recipe.vocabulary import reranker_per_vocabulary
    from rerank.train.trainer import train_cross_encoder
    from retrieval.encoder_ensemble import is_ensemble

    data = run.data
    if not run.labelled and run.budget.reranker_per_vocabulary and run.from_stage1 and is_ensemble(run.stage1.path):
        run.stage2 = reranker_per_vocabulary(
            run.folder, run.stage1.path, run.tokenizer, run.ce_config, data, run.texts, run.encoder, run.titles,
            run.show_progress,
        )
    else:
        run.stage2 = train_cross_encoder(
            data.train, data.validation, run.folder / "reranker", run.ce_config, run.show_progress,
            validation_lists=data.validation_lists, corpus_texts=list(run.texts.values()),
            weight_evidence=run.evidence, sentence_encoder=run.encoder, titles=run.titles,
        )
    run.seconds["stage2"] = run.stage2.seconds


def refit_stage1(run: RecipeRun) -> None:
    """With `refit_stage1`: stage 1 again on every labelled query, the reranker's stage-1 (and sentence)
    standardisation carried to its scale; the held-out stage 1 is deleted."""
    from rerank.train.data import candidate_lists, pseudo_queries, stage1_ranked
    from rerank.train.fusion import list_sentence_scores, restandardise_stage1
    from retrieval.indexing import build_index
    from retrieval.sentences import SentenceScorer
    from retrieval.train.bi_encoder import train_bi_encoder

    if not run.refit:
        return
    final = train_bi_encoder(run.docs, run.folder / "encoder", run.bi_config, run.queries, run.qrels, run.show_progress)
    run.seconds["stage1_refit"] = final.seconds
    started = time.perf_counter()
    # The weight stays the one chosen with the held-out stage 1. Its z-scale moves to the refit
    # stage 1 through queries neither trained on: corpus sentences that are not stage-1 anchors.
    refit_encoder = run.load_encoder(final.path)
    refit_index = build_index(run.docs, refit_encoder, show_progress=False)
    probes, probe_qrels, probe_positives = pseudo_queries(
        run.docs, run.budget.pseudo_per_doc, seed=run.seed + 2, limit=TRANSFER_QUERIES, exclude=run.anchors
    )
    ranked_before = stage1_ranked(run.encoder, run.index, probes, run.ce_config.depth)
    ranked_after = stage1_ranked(refit_encoder, refit_index, probes, run.ce_config.depth)
    before = [[s for _, s in hits] for hits in ranked_before.values()]
    after = [[s for _, s in hits] for hits in ranked_after.values()]
    sentence_before = sentence_after = None
    if run.stage2.calibration.get("sentence_weight"):
        # The sentence scale moves through the same probes; each probe's source document is scored
        # without the probe's own sentence (it would match itself exactly).
        sentence_before, sentence_after = (
            list(list_sentence_scores(
                SentenceScorer(enc),
                candidate_lists(list(probes), probes, probe_qrels, ranked, run.texts, probe_positives), run.titles,
            ).values())
            for enc, ranked in ((run.encoder, ranked_before), (refit_encoder, ranked_after))
        )
    run.stage2.calibration.update(
        restandardise_stage1(run.folder / "reranker", before, after, sentence_before, sentence_after)
    )
    run.seconds["stage2_restandardise"] = time.perf_counter() - started
    shutil.rmtree(run.stage1_dir, ignore_errors=True)
