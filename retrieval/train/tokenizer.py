"""Train an uncased BERT-style WordPiece tokenizer on a corpus (for models trained from scratch).

The vocabulary is learned here, deterministically, not by `tokenizers`' WordPiece trainer: that one
assigns ids to continuation pieces in hash-map order and breaks ties between equally frequent
merges by those ids, so two trainings on the same texts can give different vocabularies
(huggingface/tokenizers#1794). A different vocabulary changes every token id, and with them every
model trained on top, which would defeat the recipe's seed. This trainer merges the most frequent
adjacent pair of pieces, ties broken by the pieces' text, with `tokenizers`' own BERT normaliser and pre-tokeniser, and saves a
`tokenizers` WordPiece model (greedy longest-match encoding, as BERT's).

`merge_inflections` is a stemmer built into the vocabulary: a whole word that is another whole
word of the vocabulary plus an inflection (``cells`` = ``cell`` + ``s``; also ``-es``, ``-ed``,
``-ing``, ``-ly``, and ``-d`` after an ``e``) is dropped, so greedy longest-match encodes it as the
base word and a ``##`` suffix piece and both forms share the base's token. The tokenizer stays an
ordinary WordPiece one that any BERT tokenizer loads.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["inflected_words", "learn_wordpiece_vocab", "learn_wordpiece_vocabs", "train_wordpiece", "train_wordpieces"]

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PREFIX = "##"
# (suffix, shortest base, the base must end in "e"): short bases are left alone ("seed" is not "see" + "d").
INFLECTIONS = (("s", 4, False), ("es", 4, False), ("ed", 4, False), ("d", 4, True), ("ing", 4, False), ("ly", 4, False))


def _word_counts(texts: Iterable[str]) -> Counter:
    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer

    normalizer = BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=True, lowercase=True)
    pre = BertPreTokenizer()
    counts: Counter = Counter()
    for text in texts:
        counts.update(word for word, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
    return counts


def _merged(a: str, b: str) -> str:
    return a + b[len(PREFIX):]


def inflected_words(vocab: Iterable[str]) -> set[str]:
    """The whole words of `vocab` that are another whole word of it plus an inflection suffix.

    A word is listed only when the suffix is a ``##`` piece of `vocab`, so without the word, greedy
    longest-match encodes it as base + suffix.

    Example:
        >>> sorted(inflected_words(["cell", "cells", "see", "seed", "bind", "binding", "##s", "##d", "##ing"]))
        ['binding', 'cells']
    """
    vocab = list(vocab)
    words = {p for p in vocab if not p.startswith(PREFIX) and p not in SPECIAL_TOKENS}
    pieces = {p for p in vocab if p.startswith(PREFIX)}
    found = set()
    for word in words:
        for suffix, shortest, after_e in INFLECTIONS:
            base = word[: -len(suffix)]
            if (
                word.endswith(suffix) and len(base) >= shortest and base in words
                and PREFIX + suffix in pieces and (base.endswith("e") or not after_e)
            ):
                found.add(word)
                break
    return found


def learn_wordpiece_vocab(
    word_counts: dict[str, int],
    vocab_size: int,
    min_frequency: int = 2,
    limit_alphabet: int = 1000,
    merge_inflections: bool = False,
) -> list[str]:
    """The WordPiece vocabulary of a corpus's word counts: special tokens, characters, then merges.

    One size of `learn_wordpiece_vocabs`.

    Example:
        >>> learn_wordpiece_vocab({"low": 5, "lower": 2, "newest": 6}, 40)[5:8]
        ['##e', '##l', '##n']
    """
    return learn_wordpiece_vocabs(word_counts, [vocab_size], min_frequency, limit_alphabet, merge_inflections)[vocab_size]


def learn_wordpiece_vocabs(
    word_counts: dict[str, int],
    vocab_sizes: Iterable[int],
    min_frequency: int = 2,
    limit_alphabet: int = 1000,
    merge_inflections: bool = False,
) -> dict[int, list[str]]:
    """WordPiece vocabularies of several sizes, learned in one pass: {size: vocabulary}.

    Characters: the `limit_alphabet` most frequent (ties by text), each as a word start and as a
    ``##`` continuation. Merges: repeatedly the adjacent pair with the highest count (at least
    `min_frequency`), ties broken by the pair's text, until `vocab_size` pieces. With
    `merge_inflections`, the `inflected_words` are then dropped (the vocabulary gets that much smaller).
    Merges are taken greedily in a fixed order, so a smaller vocabulary is the first pieces of a
    larger one, before the inflections are dropped: each size is the one a pass to that size alone
    would learn, and the whole family costs one pass to the largest.

    Example:
        >>> vocabs = learn_wordpiece_vocabs({"low": 5, "lower": 2, "newest": 6}, [30, 40])
        >>> vocabs[40][:30] == vocabs[30]
        True
    """
    sizes = sorted(set(vocab_sizes))
    if not sizes:
        raise ValueError("give at least one vocabulary size")
    vocab_size = sizes[-1]
    chars: Counter = Counter()
    for word, n in word_counts.items():
        for ch in word:
            chars[ch] += n
    alphabet = sorted(sorted(chars), key=lambda c: -chars[c])[:limit_alphabet]
    keep = set(alphabet)
    pieces = sorted({c for c in alphabet} | {PREFIX + c for c in alphabet})
    vocab = list(SPECIAL_TOKENS) + [p for p in pieces if p not in SPECIAL_TOKENS]
    seen = set(vocab)

    words = [
        [w[0]] + [PREFIX + c for c in w[1:]]
        for w in sorted(word_counts)
        if all(c in keep for c in w)
    ]
    freq = [word_counts[w] for w in sorted(word_counts) if all(c in keep for c in w)]
    pair_count: dict[tuple[str, str], int] = defaultdict(int)
    where: dict[tuple[str, str], set[int]] = defaultdict(set)
    for i, symbols in enumerate(words):
        for pair in zip(symbols, symbols[1:]):
            pair_count[pair] += freq[i]
            where[pair].add(i)
    heap = [(-n, pair) for pair, n in pair_count.items()]
    heapq.heapify(heap)

    while len(vocab) < vocab_size and heap:
        neg, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) != -neg:
            continue  # stale entry: the count changed since it was pushed
        if -neg < min_frequency:
            break
        new = _merged(*pair)
        if new not in seen:
            vocab.append(new)
            seen.add(new)
        changed: set[tuple[str, str]] = set()
        for i in sorted(where.pop(pair, ())):
            symbols = words[i]
            for old in zip(symbols, symbols[1:]):
                pair_count[old] -= freq[i]
                where[old].discard(i)
                changed.add(old)
            out, j = [], 0
            while j < len(symbols):
                if j + 1 < len(symbols) and (symbols[j], symbols[j + 1]) == pair:
                    out.append(new)
                    j += 2
                else:
                    out.append(symbols[j])
                    j += 1
            words[i] = out
            for p in zip(out, out[1:]):
                pair_count[p] += freq[i]
                where[p].add(i)
                changed.add(p)
        pair_count.pop(pair, None)
        for p in changed:
            if p != pair and pair_count.get(p, 0) > 0:
                heapq.heappush(heap, (-pair_count[p], p))
    vocabs = {}
    for size in sizes:
        pieces = vocab[:size]
        if merge_inflections:
            drop = inflected_words(pieces)
            pieces = [p for p in pieces if p not in drop]
        vocabs[size] = pieces
    return vocabs


def train_wordpiece(
    texts: Iterable[str],
    out_dir: str | Path,
    vocab_size: int = 16_000,
    min_frequency: int = 2,
    merge_inflections: bool = False,
) -> Path:
    """Train an uncased BERT-style WordPiece tokenizer and save it as a Hugging Face tokenizer folder.

    `merge_inflections`: encode inflected words as their base word plus a suffix piece (see the module).

    The same texts always give the same tokenizer. The folder loads with
    ``AutoTokenizer.from_pretrained(out_dir)`` and holds ``tokenizer.json`` for
    ``tokenizers.Tokenizer.from_file``.

    Example:
        >>> path = train_wordpiece(["some corpus text"] * 10, "/tmp/tok", vocab_size=200)  # doctest: +SKIP
    """
    return train_wordpieces(texts, {vocab_size: out_dir}, min_frequency, merge_inflections)[vocab_size]


def train_wordpieces(
    texts: Iterable[str],
    out_dirs: Mapping[int, str | Path],
    min_frequency: int = 2,
    merge_inflections: bool = False,
) -> dict[int, Path]:
    """`train_wordpiece` for several vocabulary sizes at the cost of the largest: {size: folder}.

    Example:
        >>> folders = train_wordpieces(texts, {8_000: "tok8k", 32_000: "tok32k"})  # doctest: +SKIP
    """
    from tokenizers.implementations import BertWordPieceTokenizer
    from transformers import BertTokenizerFast

    for vocab_size in out_dirs:
        if vocab_size < len(SPECIAL_TOKENS) + 26:
            raise ValueError(f"vocab_size {vocab_size} is too small for a WordPiece vocabulary; use at least 100")
    vocabs = learn_wordpiece_vocabs(_word_counts(texts), list(out_dirs), min_frequency, merge_inflections=merge_inflections)
    saved = {}
    for vocab_size, out_dir in out_dirs.items():
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        tokenizer = BertWordPieceTokenizer(
            {piece: i for i, piece in enumerate(vocabs[vocab_size])}, lowercase=True, strip_accents=True, clean_text=True
        )
        fast = BertTokenizerFast(tokenizer_object=tokenizer._tokenizer, do_lower_case=True, model_max_length=512)
        fast.save_pretrained(str(out_dir))
        saved[vocab_size] = out_dir
    return saved
