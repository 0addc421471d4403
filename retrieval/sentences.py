"""Sentence-level stage-1 evidence: the best similarity between a query and any one sentence of a candidate.

A whole-document vector averages every sentence, and a claim is usually supported by one of them.
Scoring a query against each sentence of a candidate (and its title) with the same stage-1 encoder,
and keeping the best, is the "MaxP" score of passage-level retrieval (Dai and Callan, 2019), here
used as evidence the reranker fuses beside the document-level stage-1 score (`rerank.fusion`). It
is computed for the candidates stage 1 returned only, so it costs one encoding of their sentences
per query (cached by text).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from retrieval.types import Hit

__all__ = ["SentenceScorer", "split_sentences", "title_and_body"]

# A sentence ends at . ! or ? followed by white space and a capital, a digit or an opening bracket.
_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(])")
# Shorter pieces ("Methods.", "Results.") are section labels, not statements.
MIN_CHARS = 20


def split_sentences(text: str, title: str = "") -> list[str]:
    """The title (when there is one) and the sentences of `text` longer than `MIN_CHARS` characters.

    Never empty for a non-empty document: a text with no long sentence is kept whole.

    Example:
        >>> split_sentences("Statins lower LDL cholesterol in adults. Results. Mortality fell by a fifth.", "Statins")
        ['Statins', 'Statins lower LDL cholesterol in adults.', 'Mortality fell by a fifth.']
    """
    pieces = [title] if title.strip() else []
    pieces += [s for s in _BOUNDARY.split(text.strip()) if len(s) > MIN_CHARS]
    return pieces or [text.strip() or title]


def title_and_body(passage: str, title: str) -> tuple[str, str]:
    """Split a passage embedded as ``f"{title} {text}"`` (`retrieval.document_text`) back into both parts.

    A passage that does not start with the title (e.g. one whose title was taken out) is all body.

    Example:
        >>> title_and_body("FAISS A library for similarity search.", "FAISS")
        ('FAISS', 'A library for similarity search.')
    """
    if title and passage.startswith(title):
        return title, passage[len(title):].strip()
    return "", passage


class SentenceScorer:
    """Best sentence similarity per candidate, with a stage-1 encoder (the one that ranked the candidates).

    Sentence vectors are cached per document text (the last `cache_size` documents), so a candidate
    that comes back for another query is not encoded again. Scores are on the encoder's similarity
    scale (cosine for a normalising encoder), like stage 1's own.

    Args:
        encoder: a `retrieval.Encoder` (anything with `encode_queries` and `encode_documents`).
        cache_size: documents whose sentence vectors are kept.

    Example:
        >>> scorer = SentenceScorer(encoder)  # doctest: +SKIP
        >>> scorer.score(["do statins reduce mortality"], [[("Statins", "Mortality fell.")]])  # doctest: +SKIP
    """

    def __init__(self, encoder: Any, cache_size: int = 4096) -> None:
        if cache_size < 0:
            raise ValueError(f"cache_size must be 0 or more, got {cache_size}")
        self.encoder = encoder
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def score(
        self, queries: Sequence[str], documents: Sequence[Sequence[tuple[str, str]]], query_vectors: Any = None
    ) -> list[np.ndarray]:
        """Per query, the best similarity of the query to any sentence of each of its (title, text) documents.

        Args:
            queries: the query texts (encoded here unless `query_vectors` are given).
            documents: per query, its candidates as (title, text) pairs.
            query_vectors: the queries' stage-1 vectors, when the caller has them already.
        """
        if len(queries) != len(documents):
            raise ValueError(f"{len(queries)} queries but {len(documents)} candidate lists; pass one list per query")
        if query_vectors is None:
            query_vectors = self.encoder.encode_queries(list(queries)) if len(queries) else np.zeros((0, 1))
        query_vectors = np.asarray(query_vectors, dtype=np.float32)
        vectors = self._vectors({d for docs in documents for d in docs})
        return [
            np.array([float(np.max(vectors[d] @ q)) for d in docs], dtype=np.float64)
            for docs, q in zip(documents, query_vectors)
        ]

    def with_scores(self, queries: Sequence[str], hits: Sequence[Sequence[Hit]], query_vectors: Any = None) -> list[list[Hit]]:
        """The hits with `sentence_score` set (from each hit's title and text)."""
        scores = self.score(queries, [[(h.title, h.text) for h in row] for row in hits], query_vectors)
        return [[replace(h, sentence_score=float(s)) for h, s in zip(row, got)] for row, got in zip(hits, scores)]

    def with_missing_scores(
        self, queries: Sequence[str], hits: Sequence[Sequence[Hit]], query_vectors: Any = None
    ) -> list[list[Hit]]:
        """`with_scores` for the hit lists that have a hit without `sentence_score`; the others as they are.

        The one sentence-scoring step of the `Searcher` and of `retrieval.sentence_reranker`.
        """
        lists = [list(row) for row in hits]
        todo = [i for i, row in enumerate(lists) if any(h.sentence_score is None for h in row)]
        if todo:
            vectors = None if query_vectors is None else np.asarray(query_vectors)[todo]
            scored = self.with_scores([queries[i] for i in todo], [lists[i] for i in todo], vectors)
            for i, row in zip(todo, scored):
                lists[i] = row
        return lists

    def _vectors(self, docs: set[tuple[str, str]]) -> dict[tuple[str, str], np.ndarray]:
        with self._lock:
            found = {d: self._cache[d] for d in docs if d in self._cache}
            for d in found:
                self._cache.move_to_end(d)
            todo = sorted(docs - set(found))
            if todo:
                pieces = [split_sentences(text, title) for title, text in todo]
                flat = [p for ps in pieces for p in ps]
                encoded = np.asarray(self.encoder.encode_documents(flat, show_progress=False), dtype=np.float32)
                start = 0
                for d, ps in zip(todo, pieces):
                    found[d] = encoded[start : start + len(ps)]
                    start += len(ps)
                    if self.cache_size:
                        self._cache[d] = found[d]
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
            return found
