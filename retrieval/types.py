"""The plain value types that pass between stages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["Hit", "Reranker", "Run", "TextEncoder"]

# A run, as ranx and trec_eval read it: {query_id: {doc_id: score}}.
Run = dict[str, dict[str, float]]


@dataclass(frozen=True)
class Hit:
    """One ranked document.

    `score` and `rank` are the final ones (the reranker's when there is one, a probability then);
    `stage1_score` and `stage1_rank` are the dense retriever's (similarity, 1-based rank);
    `sentence_score` is stage 1's best similarity to any one sentence of the document, set when the
    reranker fuses it (`retrieval.sentences`).

    Example:
        >>> Hit("d1", 0.9, 1, stage1_score=0.5, stage1_rank=3).rank
        1
    """

    doc_id: str
    score: float
    rank: int
    title: str = ""
    text: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    stage1_score: float | None = None
    stage1_rank: int | None = None
    sentence_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {
            "doc_id": self.doc_id,
            "score": self.score,
            "rank": self.rank,
            "stage1_score": self.stage1_score,
            "stage1_rank": self.stage1_rank,
            "sentence_score": self.sentence_score,
            "title": self.title,
            "text": self.text,
            "metadata": dict(self.metadata),
        }


@runtime_checkable
class Reranker(Protocol):
    """Stage 2: rescores the candidates stage 1 returned, batch first.

    `score` returns one array of scores per query, aligned with that query's candidates; higher is
    better. `threshold` is a calibrated cut-off on that score scale, or None.
    """

    threshold: float | None

    def score(self, queries: Sequence[str], candidates: Sequence[Sequence[Hit]]) -> list[np.ndarray]: ...


@runtime_checkable
class TextEncoder(Protocol):
    """Stage 1: embeds queries and documents into one vector space, batch first.

    What an index and the `Searcher` use of an encoder: `retrieval.Encoder` (one model) and
    `retrieval.encoder_ensemble.EncoderEnsemble` (several, side by side) both satisfy it. `info`
    is what an index manifest records; `check` refuses a manifest recorded by another encoder.
    """

    name: str
    dim: int
    metric: str
    revision: str | None
    query_prompt: str | None
    document_prompt: str | None

    @property
    def normalize(self) -> bool: ...

    def encode_queries(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray: ...

    def encode_documents(self, docs: Sequence[Any], show_progress: bool = True) -> np.ndarray: ...

    def info(self) -> dict[str, Any]: ...

    def check(self, recorded: dict[str, Any]) -> None: ...

    def configured(self, batch_size: int, **options: Any) -> TextEncoder: ...
