"""Training pairs for a bi-encoder: labelled (query, document) pairs and pairs built from the corpus itself.

Self-supervised pairs need no labels: a document's title asks for its body, and one sentence asks for
the rest of its document (the inverse cloze task). Test queries never enter here: callers pass the
train split only.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from indexes import Document
from retrieval.encoder import document_text

__all__ = ["Pair", "corpus_pairs", "labelled_pairs", "split_sentences"]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")


@dataclass(frozen=True)
class Pair:
    """One (anchor, positive) training pair; `doc_id` is the document the positive comes from.

    Example:
        >>> Pair("what is faiss", "FAISS is a library for vector search.", "d1", "qrels").source
        'qrels'
    """

    anchor: str
    positive: str
    doc_id: str
    source: str


def split_sentences(text: str) -> list[str]:
    """Split text at sentence ends (a full stop, ! or ? followed by a capital, digit or bracket)."""
    return [s.strip() for s in _SENTENCE_END.split(text or "") if s.strip()]


def labelled_pairs(
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    docs: Iterable[Document],
    min_relevance: int = 1,
) -> list[Pair]:
    """(query, relevant document) pairs from qrels; documents as the index embeds them (title + text).

    Example:
        >>> d = [Document("d1", "body", "title")]
        >>> labelled_pairs({"q1": "a query"}, {"q1": {"d1": 1}}, d)[0].positive
        'title body'
    """
    by_id = {d.doc_id: d for d in docs}
    missing_q = [q for q in qrels if q not in queries]
    if missing_q:
        raise ValueError(f"{len(missing_q)} qrels query ids have no query text (first: {missing_q[0]!r})")
    pairs = []
    for qid in sorted(qrels):
        for doc_id, rel in sorted(qrels[qid].items()):
            if rel >= min_relevance and doc_id in by_id:
                pairs.append(Pair(queries[qid], document_text(by_id[doc_id]), doc_id, "qrels"))
    return pairs


def corpus_pairs(
    docs: Iterable[Document],
    sentences_per_doc: int = 2,
    use_titles: bool = True,
    min_words: int = 5,
    seed: int = 0,
) -> list[Pair]:
    """Self-supervised pairs: title -> body, and sampled sentences -> the rest of their document.

    Args:
        docs: the corpus.
        sentences_per_doc: how many (sentence, rest) pairs to draw from each document.
        use_titles: add (title, body) for documents that have a title.
        min_words: skip anchors shorter than this many words.
        seed: the sampling seed (same seed, same pairs).

    Example:
        >>> d = Document("d1", "Cells divide fast. Mitosis needs energy today. Stem cells renew.", "On cells")
        >>> [p.source for p in corpus_pairs([d], sentences_per_doc=1, min_words=2)]
        ['title', 'sentence']
    """
    rng = random.Random(seed)
    pairs = []
    for doc in docs:
        if use_titles and doc.title and len(doc.title.split()) >= min(min_words, 3) and doc.text.strip():
            pairs.append(Pair(doc.title, doc.text, doc.doc_id, "title"))
        sentences = split_sentences(doc.text)
        usable = [i for i, s in enumerate(sentences) if len(s.split()) >= min_words]
        if len(sentences) < 2 or not usable:
            continue
        for i in rng.sample(usable, min(sentences_per_doc, len(usable))):
            rest = " ".join(s for j, s in enumerate(sentences) if j != i)
            rest = f"{doc.title} {rest}".strip() if doc.title else rest
            pairs.append(Pair(sentences[i], rest, doc.doc_id, "sentence"))
    return pairs
