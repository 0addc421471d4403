"""A reranker that fuses sentence scores, given them by the stage-1 encoder outside a `Searcher`.

The `Searcher` sets each candidate's `sentence_score` itself when its reranker fuses one
(``sentence_weight`` in the reranker's calibration). Code that scores stage-1 hits with a reranker
directly (the benchmarks, the trade-off sweeps) wraps the reranker with `with_sentence_scores`, so
the sentence scoring runs, and is timed, inside the rerank step, as it is in the Searcher.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from retrieval.sentences import SentenceScorer
from retrieval.types import Hit, Reranker

__all__ = ["SentenceScoringReranker", "with_sentence_scores"]


class SentenceScoringReranker:
    """`reranker`, with each hit's `sentence_score` computed by `encoder` first (where it is missing).

    Args:
        reranker: a reranker whose calibration fuses sentence scores.
        encoder: the stage-1 encoder that retrieved the candidates.
        cache_size: documents whose sentence vectors are kept (0, the default, encodes every
            candidate's sentences on every call: a timing then includes them, as for a new query).
    """

    def __init__(self, reranker: Reranker, encoder: Any, cache_size: int = 0) -> None:
        self.reranker = reranker
        self.sentences = SentenceScorer(encoder, cache_size=cache_size)

    @property
    def threshold(self) -> float | None:
        return getattr(self.reranker, "threshold", None)

    @property
    def last_stats(self) -> Any:
        return getattr(self.reranker, "last_stats", None)

    def info(self) -> dict[str, Any]:
        info = self.reranker.info() if hasattr(self.reranker, "info") else {}
        return {**info, "sentence_scores": "stage-1 encoder, best sentence or title per candidate"}

    def score(self, queries: Sequence[str], candidates: Sequence[Sequence[Hit]]) -> list[np.ndarray]:
        if isinstance(queries, str) or len(queries) != len(candidates):
            raise ValueError("score takes a list of queries, one per candidate list")
        return self.reranker.score(queries, self.sentences.with_missing_scores(queries, candidates))


def with_sentence_scores(reranker: Reranker, encoder: Any, cache_size: int = 0) -> Reranker:
    """`reranker` wrapped in a `SentenceScoringReranker` when it fuses sentence scores, else itself.

    Example:
        >>> reranker = with_sentence_scores(CrossEncoderReranker.load("models/ce"), encoder)  # doctest: +SKIP
    """
    if getattr(reranker, "sentence_weight", 0.0):
        return SentenceScoringReranker(reranker, encoder, cache_size)
    return reranker
