"""The corpus WordPiece tokenizer: deterministic, BERT-shaped, and it covers the corpus."""

from __future__ import annotations

from retrieval.train.tokenizer import (
    SPECIAL_TOKENS, inflected_words, learn_wordpiece_vocab, train_wordpiece, train_wordpieces,
)

TEXTS = [
    f"Passage {i} is about {topic}. Hypercholesterolemia and statins; lowering LDL-cholesterol {i % 7}."
    for i, topic in enumerate(["faiss vector search", "protein folding", "climate models", "jazz music"] * 25)
]


def test_same_texts_give_the_same_tokenizer(tmp_path):
    # tokenizers' own WordPiece trainer gives a different vocabulary from run to run (ties broken in
    # hash-map order); the recipe's seed needs the same ids every time.
    a = train_wordpiece(TEXTS, tmp_path / "a", vocab_size=300)
    b = train_wordpiece(TEXTS, tmp_path / "b", vocab_size=300)
    assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()


def test_one_pass_gives_each_size_a_pass_to_that_size_alone_would(tmp_path):
    sizes = {120: tmp_path / "s", 140: tmp_path / "m", 1000: tmp_path / "l"}  # the corpus runs out at 159
    together = train_wordpieces(TEXTS, sizes, merge_inflections=True)
    for size, folder in together.items():
        alone = train_wordpiece(TEXTS, tmp_path / f"alone{size}", vocab_size=size, merge_inflections=True)
        assert (folder / "tokenizer.json").read_bytes() == (alone / "tokenizer.json").read_bytes()
    assert len({(f / "tokenizer.json").read_bytes() for f in together.values()}) == 3


def test_merges_take_the_most_frequent_pair_and_break_ties_by_text():
    vocab = learn_wordpiece_vocab({"low": 5, "lower": 2, "newest": 6}, 40)
    assert vocab[: len(SPECIAL_TOKENS)] == SPECIAL_TOKENS
    merges = vocab[vocab.index("w") + 1 :]
    # ("##w", "##e") occurs 6 (newest) + 2 (lower) = 8 times: no other pair is as frequent.
    assert merges[0] == "##we"
    assert {"low", "lower", "newest"} <= set(vocab)
    assert len(vocab) == len(set(vocab))
    # min_frequency: pairs seen once are never merged.
    assert learn_wordpiece_vocab({"ab": 1}, 40, min_frequency=2) == SPECIAL_TOKENS + ["##a", "##b", "a", "b"]


def test_tokenizer_is_bert_shaped_and_covers_the_corpus(tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(train_wordpiece(TEXTS, tmp_path / "t", vocab_size=300)))
    assert 100 < len(tok) <= 300  # fewer when the corpus runs out of pairs seen twice
    enc = tok("Statins lower LDL", "protein folding")
    assert enc["input_ids"][0] == tok.cls_token_id and enc["input_ids"][-1] == tok.sep_token_id
    assert set(enc["token_type_ids"]) == {0, 1}
    ids = tok(TEXTS, add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in {i for row in ids for i in row}
    assert tok.tokenize("Statins") == tok.tokenize("statins"), "uncased"


def test_merged_inflections_share_the_base_words_token(tmp_path):
    from transformers import AutoTokenizer

    texts = ["cell cells seed see binding bind mutations mutation increased increase"] * 20 + ["gas"] * 3
    plain = AutoTokenizer.from_pretrained(str(train_wordpiece(texts, tmp_path / "plain", vocab_size=400)))
    merged = AutoTokenizer.from_pretrained(
        str(train_wordpiece(texts, tmp_path / "merged", vocab_size=400, merge_inflections=True))
    )
    assert plain.tokenize("cells binding") == ["cells", "binding"]
    assert merged.tokenize("cells binding") == ["cell", "##s", "bind", "##ing"]
    assert merged.tokenize("Mutations increased") == ["mutation", "##s", "increase", "##d"]
    # Short bases are left alone: "seed" is not "see" + "d".
    assert merged.tokenize("seed") == ["seed"] == plain.tokenize("seed")
    assert len(merged) == len(plain) - 4
    vocab = learn_wordpiece_vocab({"cell": 5, "cells": 5, "seed": 5, "see": 5}, 60)
    assert inflected_words(vocab) == {"cells"}
