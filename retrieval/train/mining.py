"""Hard negatives mined with the current index, with a margin against false negatives.

For each (anchor, positive) pair, the anchor is searched in the index; documents known to be
relevant to that anchor are skipped, and so is any candidate scoring within `margin` of the
positive document's own score (likely an unlabelled relevant document, a false negative).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from indexes import Index
from retrieval.encoder import Encoder, document_text
from retrieval.train.pairs import Pair

__all__ = ["Triplet", "mine_hard_negatives"]

Triplet = tuple[str, str, str]


def _positive_scores(index: Index, query_vectors: np.ndarray, doc_ids: Sequence[str]) -> np.ndarray:
    rows = index.docs.row_ids_of(doc_ids)
    doc_vectors = np.stack([index.vectors.reconstruct(int(r)) for r in rows])
    queries = index.prepare_vectors(query_vectors)
    if index.manifest.metric == "l2":
        return -np.sum((queries - doc_vectors) ** 2, axis=1)
    return np.sum(queries * doc_vectors, axis=1)


def mine_hard_negatives(
    pairs: Sequence[Pair],
    encoder: Encoder,
    index: Index,
    depth: int = 30,
    skip_top: int = 0,
    margin: float = 0.05,
    num_negatives: int = 1,
    seed: int = 0,
    batch_size: int = 512,
) -> list[Triplet]:
    """(anchor, positive, hard negative) triplets, the negative drawn from the anchor's top results.

    Args:
        pairs: training pairs whose `doc_id` is in the index.
        encoder: the encoder that built `index` (it embeds the anchors as queries).
        index: the current index over the corpus.
        depth: how many results per anchor to draw negatives from.
        skip_top: ignore this many top results (more protection against false negatives).
        margin: keep a candidate only if its score is below the positive's score minus this.
        num_negatives: negatives per pair (one triplet each); pairs with no safe candidate are dropped.
        seed: sampling seed.

    Returns:
        Triplets of text: anchor, the pair's positive text, a negative document's text.

    Example:
        >>> mine_hard_negatives(pairs, encoder, index, margin=0.05)[0]  # doctest: +SKIP
        ('a query', 'its document', 'a similar but different document')
    """
    if depth <= skip_top:
        raise ValueError(f"depth ({depth}) must exceed skip_top ({skip_top})")
    known = [p.doc_id for p in pairs if p.doc_id not in index.docs]
    if known:
        raise ValueError(f"{len(known)} pair documents are not in the index (first: {known[0]!r}); index the corpus first")
    relevant: dict[str, set[str]] = defaultdict(set)
    for p in pairs:
        relevant[p.anchor].add(p.doc_id)
    rng = random.Random(seed)
    triplets: list[Triplet] = []
    for start in range(0, len(pairs), batch_size):
        batch = pairs[start : start + batch_size]
        vectors = encoder.encode_queries([p.anchor for p in batch])
        positive = _positive_scores(index, vectors, [p.doc_id for p in batch])
        found = index.search(vectors, depth)
        for pair, pos_score, results in zip(batch, positive, found):
            pool = [
                doc
                for doc, score in results[skip_top:]
                if doc.doc_id not in relevant[pair.anchor] and score < pos_score - margin
            ]
            for doc in rng.sample(pool, min(num_negatives, len(pool))):
                triplets.append((pair.anchor, pair.positive, document_text(doc)))
    return triplets
