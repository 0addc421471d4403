"""Without labels, over an ensemble stage 1: one reranker per vocabulary, saved as one reranker ensemble."""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from rerank.train.config import CrossEncoderConfig

__all__ = ["reranker_per_vocabulary"]


def reranker_per_vocabulary(
    folder: Path, encoder_dir: Path, tokenizer: Path, config: CrossEncoderConfig, data: Any, texts: Mapping[str, str],
    encoder: Any, titles: Mapping[str, str], show_progress: bool,
) -> Any:
    """One reranker per part of the ensemble stage 1 (its tokenizer, its token vectors), saved as one
    `rerank.reranker_ensemble` under ``folder / "reranker"``; a `CrossEncoderResult` of the whole."""
    from rerank.cross_encoder import CrossEncoderReranker
    from rerank.reranker_ensemble import RerankerEnsemble, save_reranker_ensemble
    from rerank.train.fusion import ensemble_thresholds
    from rerank.train.trainer import CrossEncoderResult, train_cross_encoder
    from retrieval.encoder_ensemble import ENSEMBLE_FILE
    from retrieval.ensemble_files import read_ensemble
    from retrieval.train.bi_encoder import MAIN_PART

    started = time.perf_counter()
    parts, _ = read_ensemble(Path(encoder_dir) / ENSEMBLE_FILE)
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
