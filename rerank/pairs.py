"""(query, passage) pairs as tokens: truncation that keeps the query, and batches by token budget."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rerank.pair_template import PairTemplate, longest_first

__all__ = ["EncodedPairs", "encode_pairs", "token_batches"]


@dataclass(frozen=True)
class EncodedPairs:
    """Tokenized pairs, each ``[CLS] query [SEP] passage [SEP]`` cut to the model's maximum length.

    Attributes:
        input_ids: token ids per pair (no padding).
        token_type_ids: segment ids per pair, or None when the tokenizer has none.
        lengths: tokens per pair after truncation.
        truncated: pairs that lost passage tokens to the maximum length.
        query_cut: per pair, True when the query alone did not fit, so the query was cut as well.
    """

    input_ids: list[list[int]]
    token_type_ids: list[list[int]] | None
    lengths: np.ndarray
    truncated: int
    query_cut: np.ndarray

    @property
    def query_truncated(self) -> int:
        """Pairs whose query was cut too."""
        return int(self.query_cut.sum())


def _token_ids(tokenizer: Any, texts: Sequence[str], cap: int | None = None) -> dict[str, list[int]]:
    unique = list(dict.fromkeys(texts))
    if not unique:
        return {}
    kwargs = {"truncation": True, "max_length": cap} if cap is not None else {}
    ids = tokenizer(unique, add_special_tokens=False, verbose=False, **kwargs)["input_ids"]
    return dict(zip(unique, ids))


def encode_pairs(
    tokenizer: Any, queries: Sequence[str], passages: Sequence[str], max_length: int,
    template: PairTemplate | None = None,
) -> EncodedPairs:
    """Tokenize pairs; a pair longer than `max_length` keeps its query and loses the end of its passage.

    A query too long to leave room for any passage token is cut too (``longest_first``), and counted.
    Each distinct text is tokenized once and the pairs are joined with the tokenizer's own special
    tokens (`template`, read from the tokenizer when not given: pass `PairTemplate.of(tokenizer)` to
    read it once for many calls); a tokenizer whose template cannot be read tokenizes each pair
    instead. Both give the ids the tokenizer gives the pair.

    Example:
        >>> enc = encode_pairs(tokenizer, ["a query"], ["a long passage ..."], 512)  # doctest: +SKIP
        >>> enc.lengths, enc.truncated  # doctest: +SKIP
        (array([9]), 0)
    """
    if len(queries) != len(passages):
        raise ValueError(f"{len(queries)} queries for {len(passages)} passages; pass one query per passage")
    special = tokenizer.num_special_tokens_to_add(pair=True)
    if max_length <= special + 1:
        raise ValueError(f"max_length {max_length} leaves no room for text after {special} special tokens")
    room = max_length - special
    q_ids = _token_ids(tokenizer, queries)
    # Passages cut just past anything a pair could keep or compare them with (see longest_first).
    cap = max([max_length, *(len(ids) for ids in q_ids.values())]) + 1
    p_ids = _token_ids(tokenizer, passages, cap)
    full = np.array([len(q_ids[q]) + len(p_ids[p]) + special for q, p in zip(queries, passages)], dtype=np.int64)
    too_long = np.array([len(q_ids[q]) >= room for q in queries], dtype=bool)
    template = template if template is not None else PairTemplate.of(tokenizer)
    if template is None:
        input_ids, token_types = _tokenize_pairs(tokenizer, queries, passages, max_length, too_long)
    else:
        input_ids, token_types = [], [] if template.types is not None else None
        for q, p in zip(queries, passages):
            q_tok, p_tok = q_ids[q], p_ids[p]
            if len(q_tok) >= room:
                n_q, n_p = longest_first(len(q_tok), len(p_tok), room)
            else:
                n_q, n_p = len(q_tok), room - len(q_tok)  # only_second
            ids, types = template.join(q_tok[:n_q], p_tok[:n_p])
            input_ids.append(ids)
            if token_types is not None:
                token_types.append(types)
    lengths = np.array([len(ids) for ids in input_ids], dtype=np.int64)
    return EncodedPairs(input_ids, token_types, lengths, int((full > max_length).sum()), too_long)


def _tokenize_pairs(
    tokenizer: Any, queries: Sequence[str], passages: Sequence[str], max_length: int, too_long: np.ndarray
) -> tuple[list[list[int]], list[list[int]] | None]:
    n = len(queries)
    input_ids: list[list[int]] = [[] for _ in range(n)]
    token_types: list[list[int]] | None = [[] for _ in range(n)]
    for strategy, rows in (("only_second", np.flatnonzero(~too_long)), ("longest_first", np.flatnonzero(too_long))):
        if not len(rows):
            continue
        enc = tokenizer(
            [queries[i] for i in rows], [passages[i] for i in rows], truncation=strategy, max_length=max_length
        )
        types = enc.get("token_type_ids")
        if types is None:
            token_types = None
        for j, i in enumerate(rows):
            input_ids[i] = enc["input_ids"][j]
            if token_types is not None:
                token_types[i] = types[j]
    return input_ids, token_types


def token_batches(lengths: np.ndarray, max_tokens: int, padded: bool, parts: int = 1) -> list[np.ndarray]:
    """Group pair indices, longest first, into batches of at most `max_tokens` tokens.

    Args:
        lengths: tokens per pair.
        max_tokens: the budget per batch (a single longer pair still gets a batch of its own).
        padded: count a batch as ``pairs x longest`` (padded tensors) instead of the sum of lengths
            (packed, padding-free).
        parts: when the pairs fit in `parts` packed batches, split them into exactly that many
            batches of near-equal token counts (one per worker thread).

    Example:
        >>> [b.tolist() for b in token_batches(np.array([5, 9, 3, 7]), max_tokens=16, padded=False)]
        [[1, 3], [0, 2]]
    """
    if max_tokens <= 0:
        raise ValueError(f"max_tokens must be positive, got {max_tokens}")
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    if parts > 1 and not padded and 1 < len(lengths) and int(lengths.sum()) <= parts * max_tokens:
        # Few pairs: one balanced batch per worker (each pair onto the lightest batch, longest first).
        bins: list[list[int]] = [[] for _ in range(min(parts, len(lengths)))]
        loads = [0] * len(bins)
        for i in order:
            j = loads.index(min(loads))
            bins[j].append(int(i))
            loads[j] += int(lengths[i])
        return [np.array(b, dtype=np.int64) for b in bins]
    batches, start = [], 0
    while start < len(order):
        end, total = start + 1, int(lengths[order[start]])
        while end < len(order):
            cost = (end - start + 1) * int(lengths[order[start]]) if padded else total + int(lengths[order[end]])
            if cost > max_tokens:
                break
            total += int(lengths[order[end]])
            end += 1
        batches.append(order[start:end])
        start = end
    return batches
