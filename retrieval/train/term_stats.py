"""Corpus term statistics over a tokenizer's vocabulary: BM25's IDF per token id and the average length."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["corpus_term_stats", "token_ids_of"]


def token_ids_of(tokenizer: Any) -> tuple[Callable[[list[str]], list[list[int]]], int]:
    """A batch function text -> token ids (no special tokens) and the vocabulary size.

    Takes a Hugging Face tokenizer or a `tokenizers.Tokenizer` (a StaticEmbedding's).
    """
    if hasattr(tokenizer, "encode_batch"):
        return (lambda texts: [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]), tokenizer.get_vocab_size()
    # Whole documents are counted, not fed to a model: no "longer than the maximum length" warning.
    return (lambda texts: tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]), len(tokenizer)


def corpus_term_stats(tokenizer: Any, texts: Sequence[str]) -> tuple[np.ndarray, float]:
    """BM25's IDF of every token id over `texts`, and their average length in tokens.

    Tokens that never occur get the IDF of a token seen in no document (the largest).

    Example:
        >>> idf, avg = corpus_term_stats(AutoTokenizer.from_pretrained("tok/"), ["a cell", "a gene"])  # doctest: +SKIP
    """
    encode, vocab_size = token_ids_of(tokenizer)
    counts = np.zeros(vocab_size, dtype=np.float64)
    lengths = []
    for start in range(0, len(texts), 512):
        for ids in encode(list(texts[start : start + 512])):
            counts[np.unique(np.asarray(ids, dtype=np.int64))] += 1
            lengths.append(len(ids))
    n = max(len(texts), 1)
    idf = np.log((n - counts + 0.5) / (counts + 0.5) + 1.0)
    return idf, float(np.mean(lengths)) if lengths else 200.0
