"""The BM25 baseline, through bm25s, set up as the published BEIR figures were.

Documents are indexed as ``title + " " + text``, lowercased and split into bm25s's ``\\w\\w+``
tokens; the stemmer, stop words and k1/b are `benchmarks.config.BM25Params` (the defaults are
bm25s's own setup). The published figures a run is checked against are in
``benchmarks/configs/<dataset>.toml``. Score another setting with
``python -m benchmarks.run scifact --stages bm25`` and a ``[bm25]`` table in a ``--config`` file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from benchmarks.config import BM25Params
from benchmarks.stages import in_order
from indexes import Document

__all__ = ["BM25Retriever"]


def _none(value: str | None) -> str | None:
    return None if value is None or value.lower() in ("", "none") else value


class BM25Retriever:
    """A bm25s index over a corpus, searched by query text.

    Example:
        >>> docs = [Document("a", "faiss searches vectors"), Document("b", "proteins fold")]
        >>> list(BM25Retriever(docs).search({"q": "vector search"}, k=1)["q"])
        ['a']
    """

    def __init__(self, corpus: Sequence[Document], params: BM25Params | None = None, show_progress: bool = False):
        import bm25s

        self.params = params or BM25Params()
        self.doc_ids = [d.doc_id for d in corpus]
        self._stemmer = self._make_stemmer()
        texts = [f"{d.title} {d.text}" if d.title else d.text for d in corpus]
        tokens = self._tokenize(texts, show_progress)
        self.model = bm25s.BM25(k1=self.params.k1, b=self.params.b, method=self.params.method)
        self.model.index(tokens, show_progress=show_progress)

    def _make_stemmer(self) -> Any:
        name = _none(self.params.stemmer)
        if name is None:
            return None
        import Stemmer

        if name not in Stemmer.algorithms():
            raise ValueError(f"unknown stemmer {name!r}; PyStemmer offers {Stemmer.algorithms()} or 'none'")
        return Stemmer.Stemmer(name)

    def _tokenize(self, texts: list[str], show_progress: bool) -> Any:
        import bm25s

        return bm25s.tokenize(
            texts, lower=True, stopwords=_none(self.params.stopwords), stemmer=self._stemmer, show_progress=show_progress
        )

    def search(self, queries: Mapping[str, str], k: int = 1000, show_progress: bool = False) -> dict[str, dict[str, float]]:
        """The top-k documents of each query: ``{qid: {doc_id: score}}``, best first.

        Documents scoring 0 (no query term in common) are left out; ties keep bm25s's order.
        """
        qids = list(queries)
        if not qids:
            return {}
        k = min(k, len(self.doc_ids))
        tokens = self._tokenize([queries[q] for q in qids], show_progress=False)
        docs, scores = self.model.retrieve(tokens, k=k, show_progress=show_progress, leave_progress=False)
        run = {}
        for qid, row_docs, row_scores in zip(qids, docs, scores):
            keep = np.asarray(row_scores) > 0
            run[qid] = in_order([(self.doc_ids[int(d)], float(s)) for d, s in zip(row_docs[keep], row_scores[keep])])
        return run
