"""Cross-fitting with labels: stage 1s that never trained on a fold's queries, and rerankers that score them.

A residual reranker's offsets must come from a stage 1 that did not train on the row's query, and
a stage-1 weight chosen on every labelled query needs, per fold, a reranker and a stage 1 that
never saw the fold's queries.
"""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rerank.train.config import CrossEncoderConfig
from retrieval.train.config import BiEncoderConfig

__all__ = ["cross_fitted_stage1", "cross_validated_weight_evidence"]


def cross_fitted_stage1(
    docs: Any, folder: Path, bi_config: BiEncoderConfig, queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]], folds: int, seed: int, show_progress: bool,
) -> tuple[list[tuple[list[str], Any]], float]:
    """(fold's query ids, a stage 1 trained on the other folds) per fold, and the seconds it took.

    A residual reranker's offsets must come from a stage 1 that did not train on the row's query.
    Each fold model is seeded apart (seed + 10 + fold) from the recipe's stage 1.
    """
    from retrieval.encoder import BULK_ENCODING, Encoder
    from retrieval.train.bi_encoder import train_bi_encoder

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


def cross_validated_weight_evidence(
    docs: Any, folder: Path, data: Any, scorers: Sequence[tuple[list[str], Any]], config: CrossEncoderConfig,
    queries: Mapping[str, str], qrels: Mapping[str, Mapping[str, int]], show_progress: bool,
) -> tuple[list[Any], float]:
    """Per cross-fit fold, a reranker trained without the fold's queries, scoring their stage-1 lists.

    The lists come from the fold's stage 1 (trained without those queries too), so each is an honest
    held-out list: the stage-1 weight is then chosen on every labelled query, not on the held-out
    ones alone (`rerank.train.stage1_weight.choose_stage1_weight`'s `more`). The fold rerankers are deleted.
    """
    from sentence_transformers import CrossEncoder

    from rerank.kernel_model import register
    from rerank.train.data import candidate_lists, stage1_ranked
    from rerank.train.fusion import list_evidence
    from rerank.train.trainer import train_cross_encoder
    from retrieval.encoder import document_text
    from retrieval.indexing import build_index
    from retrieval.sentences import SentenceScorer

    register()  # the fold rerankers are K-NRM ones, loaded back with CrossEncoder

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
