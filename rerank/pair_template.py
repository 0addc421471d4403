"""How a tokenizer joins a (query, passage) pair, read from the tokenizer itself.

A fast tokenizer encodes the two texts of a pair independently and then wraps them in its special
tokens (BERT: ``[CLS] a [SEP] b [SEP]``; RoBERTa: ``<s> a </s></s> b </s>``). `PairTemplate` learns
that wrapping from two probe pairs, so pairs can be built from texts tokenized once each: a passage
shared by many queries is tokenized once, not once per pair. `longest_first` reproduces the
tokenizers library's truncation of two sequences to a shared budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["PairTemplate", "longest_first"]

_PROBES = (("alpha beta", "gamma delta epsilon zeta"), ("one two three four five", "six"))


def longest_first(n_first: int, n_second: int, room: int) -> tuple[int, int]:
    """Tokens each sequence keeps under ``truncation="longest_first"`` with `room` tokens for both.

    The rule of the tokenizers library: the shorter sequence is kept whole when the longer one can
    take the rest of the room without becoming the shorter; otherwise both get half the room (the
    longer, or on a tie the second, one token more when the room is odd).

    Example:
        >>> longest_first(200, 20, 125)
        (105, 20)
    """
    if n_first + n_second <= room:
        return n_first, n_second
    swap = n_first > n_second
    short, long_ = (n_second, n_first) if swap else (n_first, n_second)
    long_ = short if short > room else max(short, room - short)
    if short + long_ > room:
        short, long_ = room // 2, room // 2 + room % 2
    first, second = (long_, short) if swap else (short, long_)
    return min(first, n_first), min(second, n_second)


@dataclass(frozen=True)
class PairTemplate:
    """The special tokens (and segment ids) a tokenizer puts around and between two sequences.

    Attributes:
        prefix, middle, suffix: token ids before the first text, between the texts, after the second.
        types: segment ids of (prefix, first text, middle, second text, suffix), each a tuple (the texts'
            as one id repeated), or None when the tokenizer gives no ``token_type_ids``.
    """

    prefix: tuple[int, ...]
    middle: tuple[int, ...]
    suffix: tuple[int, ...]
    types: tuple[tuple[int, ...], int, tuple[int, ...], int, tuple[int, ...]] | None

    @property
    def special(self) -> int:
        """Special tokens per pair."""
        return len(self.prefix) + len(self.middle) + len(self.suffix)

    @classmethod
    def of(cls, tokenizer: Any) -> PairTemplate | None:
        """The tokenizer's template, or None when pairs cannot be built from separately tokenized texts.

        None for slow tokenizers, left truncation, and any tokenizer whose pair encoding of the probes
        differs from the template built from the first probe.
        """
        if not getattr(tokenizer, "is_fast", False) or getattr(tokenizer, "truncation_side", "right") != "right":
            return None
        template = None
        for first, second in _PROBES:
            a, b = (tokenizer(t, add_special_tokens=False)["input_ids"] for t in (first, second))
            enc = tokenizer(first, second)
            if template is None:
                template = cls._read(enc, a, b)
                if template is None or template.special != tokenizer.num_special_tokens_to_add(pair=True):
                    return None
            ids, types = template.join(a, b)
            if list(enc["input_ids"]) != ids or (types is not None and list(enc["token_type_ids"]) != types):
                return None
            if types is None and "token_type_ids" in enc:
                return None
        return template

    @classmethod
    def _read(cls, enc: Any, a: list[int], b: list[int]) -> PairTemplate | None:
        ids = list(enc["input_ids"])
        start = next((i for i in range(len(ids) - len(a) + 1) if ids[i : i + len(a)] == a), None)
        if start is None:
            return None
        after = start + len(a)
        second = next((i for i in range(after, len(ids) - len(b) + 1) if ids[i : i + len(b)] == b), None)
        if second is None:
            return None
        end = second + len(b)
        types = None
        if "token_type_ids" in enc:
            seg = list(enc["token_type_ids"])
            first_types, second_types = set(seg[start:after]), set(seg[second:end])
            if len(first_types) != 1 or len(second_types) != 1:
                return None
            middle = tuple(seg[after:second])
            types = (tuple(seg[:start]), first_types.pop(), middle, second_types.pop(), tuple(seg[end:]))
        return cls(tuple(ids[:start]), tuple(ids[after:second]), tuple(ids[end:]), types)

    def join(self, first: Sequence[int], second: Sequence[int]) -> tuple[list[int], list[int] | None]:
        """One pair's token ids and segment ids (None without segment ids), texts already cut."""
        ids = [*self.prefix, *first, *self.middle, *second, *self.suffix]
        if self.types is None:
            return ids, None
        pre, t1, mid, t2, suf = self.types
        return ids, [*pre, *([t1] * len(first)), *mid, *([t2] * len(second)), *suf]
