"""Pairs built from texts tokenized once each equal the tokenizer's own pair encoding, truncation included."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from rerank.pair_template import PairTemplate, longest_first
from rerank.pairs import encode_pairs


@pytest.fixture(scope="module")
def bert_tokenizer(tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tokenizer_dir))


@pytest.fixture(scope="module")
def roberta_style_tokenizer(tokenizer_dir):
    """The shared WordPiece vocabulary behind RoBERTa's pair template and no segment ids."""
    from tokenizers import Tokenizer
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    cls, sep = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] [SEP] $B [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]",
        model_input_names=["input_ids", "attention_mask"],
    )


def _reference(tokenizer, queries, passages, max_length):
    """The tokenizer's own encoding of each pair, with the truncation `encode_pairs` documents."""
    room = max_length - tokenizer.num_special_tokens_to_add(pair=True)
    ids, types, cut = [], [], []
    for q, p in zip(queries, passages):
        cut.append(len(tokenizer(q, add_special_tokens=False)["input_ids"]) >= room)
        # A batch of one: called with two strings, the tokenizer reads an empty second text as no pair.
        enc = tokenizer([q], [p], truncation="longest_first" if cut[-1] else "only_second", max_length=max_length)
        ids.append(enc["input_ids"][0])
        types.append(enc["token_type_ids"][0] if "token_type_ids" in enc else None)
    return ids, types, cut


def _scifact_pairs(shared_dir, n=120, seed=0):
    folder = shared_dir / "datasets" / "scifact"
    with open(folder / "corpus.jsonl") as f:
        docs = [" ".join(filter(None, (d.get("title"), d["text"]))) for d in map(json.loads, f)]
    with open(folder / "queries.jsonl") as f:
        queries = [json.loads(line)["text"] for line in f]
    rng = random.Random(seed)
    pairs = [(rng.choice(queries), rng.choice(docs)) for _ in range(n)]
    pairs += [(rng.choice(docs), rng.choice(docs + queries)) for _ in range(n // 3)]  # queries that do not fit
    pairs += [(q, p) for q, p in pairs[:5]]  # repeated texts
    return [q for q, _ in pairs], [p for _, p in pairs]


def test_bert_template_is_read_from_the_tokenizer(bert_tokenizer):
    template = PairTemplate.of(bert_tokenizer)
    cls, sep = bert_tokenizer.cls_token_id, bert_tokenizer.sep_token_id
    assert template == PairTemplate((cls,), (sep,), (sep,), ((0,), 0, (0,), 1, (1,)))
    assert template.special == 3


@pytest.mark.parametrize("max_length", [7, 16, 33, 64, 128, 255])
def test_pairs_equal_the_tokenizers_own_on_scifact(bert_tokenizer, shared_dir, max_length):
    queries, passages = _scifact_pairs(shared_dir)
    enc = encode_pairs(bert_tokenizer, queries, passages, max_length)
    ids, types, cut = _reference(bert_tokenizer, queries, passages, max_length)
    assert enc.input_ids == ids and enc.token_type_ids == types
    assert enc.lengths.tolist() == [len(x) for x in ids] and enc.query_cut.tolist() == cut and any(cut)
    full = [len(bert_tokenizer(q, p)["input_ids"]) for q, p in zip(queries, passages)]
    assert enc.truncated == sum(n > max_length for n in full) > 0


def test_odd_texts_special_token_literals_and_empty_passages(bert_tokenizer):
    pieces = [
        "protein", "Café", "北京大学", "🙂", "[SEP]", "[CLS]", "x" * 150, "\t", "\u200b", "ﬁ", "don't", "α-helix", "ß"
    ]
    rng = random.Random(1)
    for max_length in (8, 16, 31):
        queries = [" ".join(rng.choices(pieces, k=rng.randint(1, 30))) for _ in range(60)]
        passages = ["", *(" ".join(rng.choices(pieces, k=rng.randint(0, 60))) for _ in range(59))]
        enc = encode_pairs(bert_tokenizer, queries, passages, max_length)
        ids, types, cut = _reference(bert_tokenizer, queries, passages, max_length)
        assert any(cut)
        assert enc.input_ids == ids and enc.token_type_ids == types


def test_longest_first_matches_the_tokenizer_on_every_small_pair_of_lengths(bert_tokenizer):
    texts = ["", *(" ".join(["cell"] * n) for n in range(1, 13))]
    for max_length in range(4, 16):
        room = max_length - 3
        for n_q, q in enumerate(texts):
            for n_p, p in enumerate(texts):
                if not q or not p:
                    continue
                enc = bert_tokenizer(q, p, truncation="longest_first", max_length=max_length)["token_type_ids"]
                expected = (enc.count(0) - 2, enc.count(1) - 1)
                assert longest_first(n_q, n_p, room) == expected, (n_q, n_p, room)


def test_roberta_style_template_without_segment_ids(roberta_style_tokenizer, shared_dir):
    tok = roberta_style_tokenizer
    template = PairTemplate.of(tok)
    assert template is not None and template.types is None and template.middle == (tok.sep_token_id,) * 2
    queries, passages = _scifact_pairs(shared_dir, n=40)
    enc = encode_pairs(tok, queries, passages, 48)
    ids, _, _ = _reference(tok, queries, passages, 48)
    assert enc.input_ids == ids and enc.token_type_ids is None


def test_left_truncation_falls_back_to_tokenizing_each_pair(tokenizer_dir, shared_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir), truncation_side="left")
    assert PairTemplate.of(tok) is None
    queries, passages = _scifact_pairs(shared_dir, n=30)
    enc = encode_pairs(tok, queries, passages, 40)
    ids, types, _ = _reference(tok, queries, passages, 40)
    assert enc.input_ids == ids and enc.token_type_ids == types
    assert np.array_equal(enc.lengths, [len(x) for x in ids])
