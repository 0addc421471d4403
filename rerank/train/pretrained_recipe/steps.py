"""The pretrained recipe's steps, in the order `rerank.train.pretrained_recipe.run.pretrained_models` takes them.

Each step reads what the earlier ones left on the `PretrainedRun` and adds its own result (and its
seconds to `PretrainedRun.seconds`). Test queries never reach a step: `qrels` is the train split.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rerank.train.pretrained_recipe.budget import PretrainedBudget

__all__ = ["PretrainedRun", "stage2_data", "train_stage1", "train_stage2", "zero_shot_index"]

IndexFor = Callable[[Sequence[Any], Any], Any]


@dataclass
class PretrainedRun:
    """One run of the recipe: its inputs, then what each step made.

    `index_for(docs, encoder)` indexes the corpus with an encoder (`retrieval.build_index` by
    default; a caller may pass one that caches the embeddings by content).
    """

    folder: Path
    docs: list[Any]
    budget: PretrainedBudget
    seed: int
    base: str  # what the trainers are given: a hub name or a model folder
    base_path: Path  # its verified folder
    queries: dict[str, str] | None
    qrels: dict[str, dict[str, int]] | None
    show_progress: bool
    index_for: IndexFor
    seconds: dict[str, float] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    held: set[str] = field(default_factory=set)  # labelled queries held out of stage 1 (stage 2 validates on them)
    zero_shot: Any = None  # the base as a `retrieval.Encoder`
    zero_shot_index: Any = None
    stage1_path: Path | None = None
    stage1_pairs: dict[str, int] = field(default_factory=dict)
    encoder: Any = None  # stage 1 as the reranker will see it
    index: Any = None
    ce_config: Any = None
    data: Any = None  # `rerank.train.examples.Stage2Data`
    stage2: Any = None  # `rerank.train.trainer.CrossEncoderResult`

    def __post_init__(self) -> None:
        self.titles = {d.doc_id: d.title for d in self.docs}

    @property
    def labelled(self) -> bool:
        return bool(self.qrels)

    def load_encoder(self, path: Path) -> Any:
        from retrieval.encoder import BULK_ENCODING, Encoder

        return Encoder.load(str(path), device="cpu", batch_size=128, **BULK_ENCODING)


def zero_shot_index(run: PretrainedRun) -> None:
    """The corpus indexed by the base as it is: stage 1 mines its hard negatives there, and without
    labels it is stage 1."""
    started = time.perf_counter()
    run.zero_shot = run.load_encoder(run.base_path)
    run.zero_shot_index = run.index_for(run.docs, run.zero_shot)
    run.seconds["zero_shot_index"] = time.perf_counter() - started


def train_stage1(run: PretrainedRun) -> None:
    """With labels: the base fine-tuned with MultipleNegativesRankingLoss on (query, positive, hard negative),
    the negative mined from the zero-shot index, without the queries stage 2 validates on. Without
    labels stage 1 stays the base."""
    from transformers import set_seed

    from rerank.train.data import hold_out_queries
    from rerank.train.pretrained_recipe.fit import fit_triplets
    from retrieval.encoder import load_sentence_transformer
    from retrieval.progress import quiet_progress
    from retrieval.train.mining import mine_hard_negatives
    from retrieval.train.pairs import labelled_pairs

    if not run.labelled:
        run.stage1_path, run.encoder, run.index = run.base_path, run.zero_shot, run.zero_shot_index
        return
    started = time.perf_counter()
    config = replace(run.budget.bi_encoder, model=run.base, seed=run.seed)
    run.held = hold_out_queries(run.qrels, run.budget.cross_encoder.validation_fraction, run.seed)
    qrels = {q: rels for q, rels in run.qrels.items() if q not in run.held}
    pairs = labelled_pairs(run.queries, qrels, run.docs) * config.label_repeats
    triplets = mine_hard_negatives(
        pairs, run.zero_shot, run.zero_shot_index, depth=config.depth, skip_top=config.skip_top,
        margin=config.margin, num_negatives=config.num_negatives, seed=config.seed,
    )
    if len(triplets) < 2:
        raise ValueError(f"{len(triplets)} training triplets: too few labelled queries to fine-tune stage 1")
    out = run.folder / "encoder"
    work = run.folder / ".encoder.work"
    set_seed(config.seed)
    model = load_sentence_transformer(str(run.base_path), device="cpu")
    model.max_seq_length = config.max_seq_length
    with quiet_progress(not run.show_progress):
        history = fit_triplets(model, triplets, config, work, run.show_progress)
        model.save(str(out))
    shutil.rmtree(work, ignore_errors=True)
    run.stage1_pairs = {"labelled": len(pairs), "triplets": len(triplets)}
    run.seconds["stage1"] = time.perf_counter() - started
    config.save(out / "train_config.json")
    summary = {"seconds": run.seconds["stage1"], "pairs": run.stage1_pairs, "loss_history": history}
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2))
    run.stage1_path = out


def stage2_data(run: PretrainedRun) -> None:
    """Stage 2's rows: the labelled (or, without labels, pseudo-) queries with negatives from the
    candidates of the stage 1 it will rerank, the held-out queries' whole candidate lists beside.
    Nothing when the budget trains no cross-encoder for the run (`PretrainedBudget.stage2` is None)."""
    from rerank.train.examples import stage2_examples

    stage2 = run.budget.stage2(run.labelled)
    if stage2 is None:  # corpus only, by default: no cross-encoder
        return
    started = time.perf_counter()
    if run.encoder is None:
        run.encoder = run.load_encoder(run.stage1_path)
        run.index = run.index_for(run.docs, run.encoder)
    run.ce_config = replace(stage2, model=run.base, seed=run.seed)
    run.data = stage2_examples(
        run.docs, run.encoder, run.index, run.ce_config, run.queries if run.labelled else None,
        run.qrels if run.labelled else None, pseudo_per_doc=run.budget.pseudo_per_doc,
        pseudo_limit=run.budget.pseudo_limit, held_out=run.held,
    )
    run.seconds["stage2_candidates"] = time.perf_counter() - started


def train_stage2(run: PretrainedRun) -> None:
    """The cross-encoder: the base's body with a new one-logit head (the budget's `head`), BCE on the
    rows; the best-AP epoch kept, its stage-1 weight chosen on the held-out lists and saved with the
    thresholds."""
    from rerank.train.trainer import train_cross_encoder

    if run.data is None:  # `stage2_data` made none: no cross-encoder is trained
        return
    data = run.data
    run.stage2 = train_cross_encoder(
        data.train, data.validation, run.folder / "reranker", run.ce_config, run.show_progress,
        validation_lists=data.validation_lists, sentence_encoder=run.encoder, titles=run.titles,
    )
    run.seconds["stage2"] = run.stage2.seconds
