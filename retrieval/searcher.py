"""`Searcher(index).query(text)`: dense retrieval, optionally reranked by a second stage."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from indexes import Document, Index
from indexes.sharded import ShardedIndex
from retrieval.encoder import Encoder
from retrieval.indexing import load_index
from retrieval.sentences import SentenceScorer
from retrieval.texts import check_texts
from retrieval.types import Hit, Reranker, TextEncoder

__all__ = ["Searcher"]


def _check_query(text: object, position: int) -> str:
    if not isinstance(text, str):
        raise TypeError(f"query {position} must be a string, got {type(text).__name__}")
    if not text.strip():
        raise ValueError(f"query {position} is empty or whitespace only; pass some text to search for")
    return text


def _positive(name: str, value: object) -> int:
    """`value` as an int when it is a positive integer of any integral type (numpy's too), else ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _no_reranker(candidates: object) -> ValueError:
    return ValueError(
        f"candidates={candidates!r}: candidates is the depth a reranker rescores, and this Searcher has no "
        "reranker; pass reranker=... to rerank, or leave candidates out (stage 1 returns k hits)"
    )


def _hit(doc: Document, score: float, rank: int, stage1_score: float, stage1_rank: int) -> Hit:
    return Hit(doc.doc_id, score, rank, doc.title, doc.text, doc.metadata, stage1_score, stage1_rank)


class Searcher:
    """Search an index: stage 1 (dense) and, when a reranker is given, stage 2.

    Args:
        index: an `Index` or `indexes.sharded.ShardedIndex`, or the path of a saved one (either kind).
        encoder: the query encoder; by default the one named in the index manifest. It is checked
            against the manifest and refused if it does not match.
        reranker: an optional stage-2 `Reranker` (e.g. ``rerank.CrossEncoderReranker.load(path)``).
        candidates: stage-1 depth that the reranker rescores (default 100; raised to k where a
            query asks for more hits). Only with a reranker: without one it is refused.
        backend: where an encoder loaded here (by name or from the manifest) runs:
            ``"auto"`` (when None), ``"torch"``, ``"onnx"`` or ``"openvino"`` (`retrieval.encoder.Encoder`). An
            encoder passed in as an object keeps its own; naming another backend with it is refused.

    Safe to call from several threads: encoding is serialised, FAISS search and reranking are not
    shared state.

    Example:
        >>> hits = Searcher("indexes/scifact").query("do statins reduce mortality", k=5)  # doctest: +SKIP
    """

    def __init__(
        self,
        index: Index | ShardedIndex | str | Path,
        encoder: TextEncoder | str | Path | None = None,
        reranker: Reranker | None = None,
        candidates: int | None = None,
        backend: str | None = None,
    ) -> None:
        if reranker is None and candidates is not None:
            raise _no_reranker(candidates)
        own = getattr(encoder, "backend", backend)
        if backend is not None and encoder is not None and not isinstance(encoder, (str, Path)) and own != backend:
            raise ValueError(
                f"backend={backend!r} applies to an encoder the Searcher loads; this encoder runs on {own!r}: "
                "pass backend to Encoder.load, or give the encoder's name instead"
            )
        self.candidates = _positive("candidates", 100 if candidates is None else candidates)
        if isinstance(index, (Index, ShardedIndex)):
            if encoder is None or isinstance(encoder, (str, Path)):
                encoder = Encoder.load(
                    encoder or index.manifest.encoder.get("name"),
                    backend=backend or "auto",
                    precision=index.manifest.encoder.get("precision", "fp32"),
                )
            encoder.check(index.manifest.encoder)
        else:
            index, encoder = load_index(index, encoder, backend=backend or "auto")
        self.index, self.encoder, self.reranker = index, encoder, reranker
        # A reranker that fuses sentence-level evidence (`sentence_weight` in its calibration) is
        # given each candidate's best-sentence similarity, computed with this Searcher's encoder.
        self._sentences = SentenceScorer(encoder)

    def query(
        self, text: str, k: int = 10, candidates: int | None = None, min_score: float | str | None = None
    ) -> list[Hit]:
        """Top-k hits for one query (through the batch path); arguments as in `query_batch`."""
        return self.query_batch([text], k=k, candidates=candidates, min_score=min_score)[0]

    def query_batch(
        self,
        texts: Sequence[str],
        k: int = 10,
        candidates: int | None = None,
        min_score: float | str | None = None,
    ) -> list[list[Hit]]:
        """Top-k hits per query.

        With a reranker, stage 1 retrieves `candidates` documents per query, the reranker rescores
        exactly those (the pairs of all queries in one pass), and the top k by its score are
        returned, each with both stages' scores and ranks. A reranker that fuses sentence-level
        evidence (``sentence_weight`` in its calibration) is given, and each hit carries, the best
        similarity of the query to any one sentence or the title of the document (`retrieval.sentences`).

        Args:
            texts: the queries. Text that is not valid Unicode raises `retrieval.InvalidTextError`;
                a query longer than a model's window is cut to it, with a `retrieval.QueryTruncatedWarning`.
            k: hits to return per query (any positive integer, numpy's included).
            candidates: stage-1 depth to rerank, at least k (reranker only: refused without one);
                default the Searcher's, raised to k when smaller. Clamped to the corpus size by the index.
            min_score: keep only hits scoring at least this, so a query may return fewer than k hits,
                or none ("no good answer"). With a reranker it is a probability in [0, 1] (the
                reranker's score; for a logit cut-off t pass ``1 / (1 + exp(-t))``); without one it
                is on the stage-1 similarity scale. ``"calibrated"`` uses the reranker's calibrated
                threshold (``reranker.threshold``, from the model's calibration.json).
        """
        if isinstance(texts, str):
            raise TypeError("query_batch takes a list of queries; use query() for one")
        texts = check_texts([_check_query(t, i) for i, t in enumerate(texts)], "query")
        k = _positive("k", k)
        depth = self._depth(k, candidates)
        min_score = self._cut_off(min_score)
        if not texts:
            return []
        vectors = self.encoder.encode_queries(texts)
        stage1 = self.index.search(vectors, depth)
        first = [[_hit(d, s, r, s, r) for r, (d, s) in enumerate(found, start=1)] for found in stage1]
        if getattr(self.reranker, "sentence_weight", 0.0):
            first = self._sentences.with_missing_scores(texts, first, vectors)
        if self.reranker is None:
            results = [hits[:k] for hits in first]
        else:
            results = self._rerank(texts, first, k)
        if min_score is not None:
            results = [[h for h in hits if h.score >= min_score] for hits in results]
        return results

    def _depth(self, k: int, candidates: object) -> int:
        """How many stage-1 hits to fetch: k alone, or with a reranker the candidates it rescores."""
        if self.reranker is None:
            if candidates is not None:
                raise _no_reranker(candidates)
            return k
        if candidates is None:
            return max(k, self.candidates)
        depth = _positive("candidates", candidates)
        if depth < k:
            raise ValueError(
                f"candidates={depth} is fewer than k={k}: the reranker returns hits from the candidates it rescores "
                f"only; pass candidates of at least {k}, or a smaller k"
            )
        return depth

    def _cut_off(self, min_score: float | str | None) -> float | None:
        """`min_score` as a number on the final score's scale, checked."""
        if min_score is None:
            return None
        if isinstance(min_score, str):
            if min_score != "calibrated":
                raise ValueError(f"min_score must be a number or 'calibrated', got {min_score!r}")
            if self.reranker is None:
                raise ValueError("min_score='calibrated' needs a reranker; this Searcher has none")
            threshold = getattr(self.reranker, "threshold", None)
            if threshold is None:
                raise ValueError(
                    "min_score='calibrated': the reranker has no calibrated threshold (its model folder has no "
                    "calibration.json; train it with `python -m rerank.train`, or pass a probability)"
                )
            return float(threshold)
        if isinstance(min_score, bool) or not isinstance(min_score, (int, float)) or np.isnan(min_score):
            raise TypeError(f"min_score must be a number, 'calibrated' or None, got {min_score!r}")
        if self.reranker is not None and not 0.0 <= min_score <= 1.0:
            raise ValueError(
                f"min_score={min_score} is not a probability: with a reranker, scores are probabilities in [0, 1]. "
                "For a cut-off t on the logit scale pass 1 / (1 + exp(-t))"
            )
        return float(min_score)

    def _rerank(self, texts: list[str], first: list[list[Hit]], k: int) -> list[list[Hit]]:
        scores = self.reranker.score(texts, first)
        if len(scores) != len(first):
            raise ValueError(f"the reranker returned {len(scores)} score lists for {len(first)} queries")
        out = []
        for hits, row in zip(first, scores):
            row = np.asarray(row, dtype=np.float64)
            if row.shape != (len(hits),):
                raise ValueError(f"the reranker returned {row.shape} scores for {len(hits)} candidates")
            order = np.argsort(-row, kind="stable")[:k]
            out.append([replace(hits[i], score=float(row[i]), rank=rank) for rank, i in enumerate(order, start=1)])
        return out
