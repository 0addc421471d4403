"""The rows stage 2 trains and validates on: labelled queries or corpus pseudo-queries, with stage-1 negatives.

Every training query gets its relevant documents (label 1) and documents from its stage-1
candidate list that are not labelled relevant (label 0); whole queries are held out for
validation, with their full candidate lists for choosing the stage-1 weight. A residual reranker's
rows also get their standardised stage-1 scores (`rerank.train.residual.with_stage1_z`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from rerank.train.config import CrossEncoderConfig
from rerank.train.data import CandidateList, Example

__all__ = ["Stage2Data", "stage2_examples"]


@dataclass(frozen=True)
class Stage2Data:
    """Training rows, validation rows (whole queries held out) and those queries' full candidate lists."""

    train: list[Example]
    validation: list[Example]
    validation_lists: list[CandidateList]


def stage2_examples(
    docs: Sequence[Any],
    encoder: Any,
    index: Any,
    config: CrossEncoderConfig,
    train_queries: dict[str, str] | None = None,
    train_qrels: dict[str, dict[str, int]] | None = None,
    pseudo_per_doc: int = 1,
    pseudo_limit: int | None = None,
    held_out: Collection[str] | None = None,
    exclude_anchors: Collection[str] = (),
    pseudo_with_labels: int = 0,
    stage1_scorers: Sequence[tuple[Collection[str], Any]] | None = None,
) -> Stage2Data:
    """Training and validation rows: labelled queries when given, else pseudo-queries from the corpus,
    each with negatives from its stage-1 candidates; plus the validation queries' candidate lists.

    Args:
        held_out: the labelled queries to validate on (by default a seeded share); pass the ones
            stage 1 was not trained on, so that their stage-1 scores are honest ones.
        exclude_anchors: pseudo-query texts not to use (the anchors stage 1 was trained on).
        pseudo_with_labels: with labels, also train on up to this many pseudo-queries (validation
            stays the labelled held-out queries).
        stage1_scorers: with `config.stage1_offset` and labels, (query ids, stage-1 encoder) groups,
            each encoder one that did not train on its queries (`rerank.train.recipe` cross-fits them).

    With `config.stage1_offset` the training rows get standardised stage-1 scores of their own text
    (`rerank.train.residual.with_stage1_z`), from `encoder`, or from their query's `stage1_scorers` group.
    `encoder` gives honest offsets for pseudo-queries stage 1 did not train on, and for labelled
    queries it never saw; not for labelled queries it trained on (it ranks their positives first and
    leaves the residual nothing to learn): pass `stage1_scorers` for those.
    """
    from retrieval.encoder import document_text
    from rerank.train.residual import with_stage1_z
    from rerank.train.data import (
        build_examples, candidate_lists, pseudo_queries, rescore_lists, split_by_query, stage1_ranked,
    )

    positives = None
    if train_qrels:
        if train_queries is None:
            raise ValueError("train_qrels were given without train_queries")
        queries, qrels = dict(train_queries), dict(train_qrels)
    else:
        # seed + 1: another draw than stage 1's corpus pairs (drawn with `seed`), so fewer are excluded.
        queries, qrels, positives = pseudo_queries(
            docs, pseudo_per_doc, seed=config.seed + 1, limit=pseudo_limit, exclude=exclude_anchors
        )
    texts = {d.doc_id: document_text(d) for d in docs}

    def rows_of(queries: dict[str, str], qrels: dict, positives: dict | None) -> tuple[list[Example], dict]:
        ranked = stage1_ranked(encoder, index, queries, config.depth)
        candidates = {q: [d for d, _ in hits][: config.negative_depth] for q, hits in ranked.items()}
        rows = build_examples(
            queries, qrels, candidates, texts, config.negatives_per_query, config.hard_first, config.skip_top,
            config.seed, positives,
        )
        return rows, ranked

    rows, ranked = rows_of(queries, qrels, positives)
    train, validation = split_by_query(rows, config.validation_fraction, config.seed, held_out if train_qrels else None)
    if config.stage1_offset:
        train = _residual_rows(train, docs, encoder, ranked, stage1_scorers, config.depth)
    held = sorted({r.query_id for r in validation})
    lists = candidate_lists(held, queries, qrels, ranked, texts, positives)
    if positives:  # stage 1 scored the indexed document, sentence included; score what the reranker sees
        lists = rescore_lists(lists, encoder, set(positives))
    if train_qrels and pseudo_with_labels > 0:
        # Built apart, so that the labelled rows and their split are the same with or without them.
        extra, extra_qrels, extra_positives = pseudo_queries(
            docs, pseudo_per_doc, seed=config.seed + 1, limit=pseudo_with_labels, exclude=exclude_anchors
        )
        more, more_ranked = rows_of(extra, extra_qrels, extra_positives)
        if config.stage1_offset:
            more = with_stage1_z(more, encoder, [[s for _, s in hits] for hits in more_ranked.values()])
        train = train + more
    return Stage2Data(train, validation, lists)


def _residual_rows(
    rows: list[Example], docs: Sequence[Any], encoder: Any, ranked: dict[str, list[tuple[str, float]]],
    scorers: Sequence[tuple[Collection[str], Any]] | None, depth: int,
) -> list[Example]:
    """`rows` with their stage-1 z-scores, each from its query's scorer (or `encoder` when there are none).

    A scorer's scale is its own: its scores are standardised over its own candidate lists of its queries.
    """
    from retrieval.indexing import build_index
    from rerank.train.residual import with_stage1_z
    from rerank.train.data import stage1_ranked

    if scorers is None:
        return with_stage1_z(rows, encoder, [[s for _, s in hits] for hits in ranked.values()])
    owner = {q: k for k, (query_ids, _) in enumerate(scorers) for q in query_ids}
    unscored = sorted({r.query_id for r in rows} - set(owner))
    if unscored:
        raise ValueError(f"{len(unscored)} training queries (e.g. {unscored[0]!r}) are in no stage1_scorers group")
    scored: dict[int, Example] = {}
    for k, (_, scorer) in enumerate(scorers):
        mine = [i for i, r in enumerate(rows) if owner[r.query_id] == k]
        if not mine:
            continue
        queries = {rows[i].query_id: rows[i].query for i in mine}
        own = stage1_ranked(scorer, build_index(docs, scorer, show_progress=False), queries, depth)
        z = with_stage1_z([rows[i] for i in mine], scorer, [[s for _, s in hits] for hits in own.values()])
        scored.update(zip(mine, z))
    return [scored[i] for i in range(len(rows))]
