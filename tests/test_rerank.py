"""The cross-encoder reranker: output conventions, the packed forward, truncation, batching, loading."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from rerank import CrossEncoderReranker, encode_pairs, read_calibration, scores_from_logits, token_batches
from rerank.packed_bert import PackedBert
from rerank.train.scratch import random_cross_encoder
from retrieval import Hit, ModelLoadError, QueryTruncatedWarning, Reranker

PAIRS = [
    ("what is faiss", "faiss is a library for efficient vector similarity search"),
    ("what is faiss", "jazz music was born in new orleans"),
    ("protein folding", "alphafold predicts the structure a protein folds into"),
    ("protein folding", "the football scores of the weekend"),
    ("climate models", "climate models simulate the atmosphere and the oceans over decades"),
    ("a", "b"),
]


@pytest.fixture(scope="session")
def ce1_path(tmp_path_factory, tokenizer_dir):
    """One logit (sigmoid), tiny random BERT, weights spread so that pairs score differently."""
    out = tmp_path_factory.mktemp("ce1")
    return random_cross_encoder(tokenizer_dir, out, num_labels=1, max_length=64, init_std=0.3)


@pytest.fixture(scope="session")
def ce2_path(tmp_path_factory, tokenizer_dir):
    """Two logits (softmax), tiny random BERT."""
    out = tmp_path_factory.mktemp("ce2")
    return random_cross_encoder(tokenizer_dir, out, num_labels=2, max_length=64, init_std=0.3)


def _hf_logits(path, pairs, max_length=64):
    """Logits straight from the Hugging Face model on padded tensors: the reference."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForSequenceClassification.from_pretrained(str(path)).eval()
    enc = tok([p[0] for p in pairs], [p[1] for p in pairs], truncation="only_second", max_length=max_length,
              padding=True, return_tensors="pt")
    with torch.inference_mode():
        return model(**enc).logits.numpy()


def test_one_logit_is_read_with_sigmoid(ce1_path):
    from sentence_transformers import CrossEncoder

    reranker = CrossEncoderReranker.load(str(ce1_path), device="cpu", precision="fp32")
    out = reranker.outputs(PAIRS)
    logits = _hf_logits(ce1_path, PAIRS)[:, 0]
    assert reranker.activation == "sigmoid" and out.activation == "sigmoid" and reranker.num_labels == 1
    np.testing.assert_allclose(out.logits, logits, atol=1e-5)
    np.testing.assert_allclose(out.probabilities, 1 / (1 + np.exp(-logits)), atol=1e-6)
    np.testing.assert_array_equal(out.scores, out.probabilities)
    np.testing.assert_array_equal(out.labels, (out.probabilities >= 0.5).astype(int))
    assert np.ptp(out.scores) > 0.05  # the fixture's pairs really score differently
    # the users' reference: CrossEncoder.predict gives the same probabilities
    np.testing.assert_allclose(CrossEncoder(str(ce1_path), device="cpu").predict(PAIRS), out.scores, atol=1e-5)
    np.testing.assert_allclose(reranker.predict(PAIRS), out.scores)


def test_two_logits_are_read_with_softmax(ce2_path):
    from sentence_transformers import CrossEncoder

    reranker = CrossEncoderReranker.load(str(ce2_path), device="cpu", precision="fp32")
    out = reranker.outputs(PAIRS)
    logits = _hf_logits(ce2_path, PAIRS)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert reranker.activation == "softmax" and reranker.num_labels == 2
    assert out.logits.shape == out.probabilities.shape == (len(PAIRS), 2)
    np.testing.assert_allclose(out.logits, logits, atol=1e-5)
    np.testing.assert_allclose(out.probabilities, probs, atol=1e-6)
    np.testing.assert_array_equal(out.labels, probs.argmax(axis=1))
    np.testing.assert_allclose(out.scores, probs[:, 1], atol=1e-6)  # ranking score: P(class 1)
    # the activation is recorded with the model: a plain CrossEncoder reads softmax probabilities too
    with pytest.warns(UserWarning, match="Implicit dimension"):
        np.testing.assert_allclose(CrossEncoder(str(ce2_path), device="cpu").predict(PAIRS), probs, atol=1e-5)


def test_scores_from_logits_conventions():
    s = scores_from_logits(np.array([[0.0], [2.0], [-50.0], [50.0]]), "sigmoid")
    np.testing.assert_allclose(s.scores, [0.5, 1 / (1 + np.exp(-2.0)), 1.9287e-22, 1.0], rtol=1e-4)
    assert s.labels.tolist() == [1, 1, 0, 1]
    s = scores_from_logits(np.array([[1.0, 1.0], [3.0, -1.0]]), "softmax")
    np.testing.assert_allclose(s.probabilities.sum(axis=1), 1.0)
    assert s.labels.tolist() == [0, 0] and s.scores[0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="two logits"):
        scores_from_logits(np.zeros((2, 1)), "softmax")
    with pytest.raises(ValueError, match="activation must be"):
        scores_from_logits(np.zeros((2, 1)), "tanh")


def test_packed_forward_equals_the_model_forward(ce1_path, ce2_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    for path in (ce1_path, ce2_path):
        tok = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForSequenceClassification.from_pretrained(str(path)).eval()
        enc = tok([p[0] for p in PAIRS], [p[1] for p in PAIRS])
        lengths = [len(ids) for ids in enc["input_ids"]]
        ids = torch.tensor([t for row in enc["input_ids"] for t in row])
        types = torch.tensor([t for row in enc["token_type_ids"] for t in row])
        packed = PackedBert(model)(ids, types, lengths).numpy()
        padded = tok.pad(enc, return_tensors="pt")
        with torch.inference_mode():
            reference = model(**padded).logits.numpy()
        np.testing.assert_allclose(packed, reference, atol=1e-5)
        quantized = PackedBert(model, int8=True)(ids, types, lengths).numpy()
        assert np.abs(quantized - reference).max() > 0  # really quantised
        assert np.corrcoef(quantized.ravel(), reference.ravel())[0, 1] > 0.95
    with pytest.raises(ValueError, match="lengths"):
        PackedBert(model)(ids, types, lengths[:-1])


def test_packed_refuses_other_models():
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    config = BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)
    assert not PackedBert.supports(BertModel(config))
    config.position_embedding_type = "relative_key"
    model = BertForSequenceClassification(config)
    assert "position_embedding_type" in PackedBert.unsupported_reason(model)
    with pytest.raises(ValueError, match="cannot run this model"):
        PackedBert(model)


def test_mean_pooling_head_runs_the_same_on_every_backend(ce1_path, tmp_path):
    from sentence_transformers import CrossEncoder
    from sentence_transformers.sentence_transformer.modules import Pooling

    from rerank.train.config import CrossEncoderConfig
    from rerank.train.initial import initial_cross_encoder, mean_pooling_cross_encoder

    torch.manual_seed(0)
    built = mean_pooling_cross_encoder(ce1_path, num_labels=1, max_length=64)
    with torch.no_grad():
        built[2].linear.weight.normal_(0, 1.0)  # a head that spreads the pairs apart
    built.save(str(tmp_path / "mean"))
    model = CrossEncoder(str(tmp_path / "mean"), device="cpu")
    assert [type(m).__name__ for m in model] == ["Transformer", "Pooling", "Dense"]
    torch_logits = CrossEncoderReranker(model, "m", backend="torch").outputs(PAIRS).logits
    assert np.ptp(torch_logits) > 1e-3
    packed = CrossEncoderReranker(CrossEncoder(str(tmp_path / "mean"), device="cpu"), "m", precision="fp32")
    assert packed.info()["backend"] == "packed"  # chosen by default on a CPU
    np.testing.assert_allclose(packed.outputs(PAIRS).logits, torch_logits, atol=1e-5)
    int8 = CrossEncoderReranker(CrossEncoder(str(tmp_path / "mean"), device="cpu"), "m", precision="int8").outputs(PAIRS)
    assert np.abs(int8.logits - torch_logits).max() > 0
    assert np.corrcoef(int8.logits.ravel(), torch_logits.ravel())[0, 1] > 0.95

    other = CrossEncoder(str(tmp_path / "mean"), device="cpu")
    other[1] = Pooling(other[1].get_embedding_dimension(), "max")
    assert "'max'" in PackedBert.unsupported_reason(other)
    assert CrossEncoderReranker(other, "m").info()["backend"] == "torch"
    with pytest.raises(ValueError, match="head must be one of"):
        CrossEncoderConfig(head="max")
    with pytest.raises(ValueError, match="fine-tunes a given model"):
        initial_cross_encoder(CrossEncoderConfig(head="mean", tokenizer=str(ce1_path)), tmp_path / "work")


def test_fast_and_fallback_paths_agree(ce1_path, ce2_path):
    for path in (ce1_path, ce2_path):
        packed = CrossEncoderReranker.load(str(path), device="cpu", workers=2, max_tokens=64, precision="fp32")
        plain = CrossEncoderReranker.load(str(path), device="cpu", packed=False)
        serial = CrossEncoderReranker.load(str(path), device="cpu", workers=1, precision="fp32")
        assert packed.info()["packed"] and not plain.info()["packed"]
        reference = plain.outputs(PAIRS).logits
        threads = torch.get_num_threads()
        np.testing.assert_allclose(packed.outputs(PAIRS).logits, reference, atol=1e-5)
        assert packed.last_stats.batches > 1  # the pairs really were spread over batches and threads
        assert torch.get_num_threads() == threads  # the worker threads' setting did not leak
        np.testing.assert_allclose(serial.outputs(PAIRS).logits, reference, atol=1e-5)


def test_padded_batches_are_built_from_the_pair_ids(ce1_path):
    """The padded forward pads the ids `encode_pairs` made (no second tokenization), same logits."""
    plain = CrossEncoderReranker.load(str(ce1_path), device="cpu", backend="torch", precision="fp32")
    assert plain._pads is not None  # the probe batch built here equalled the model's own preprocess
    long_passage = " ".join(["protein chains fold through hydrophobic collapse"] * 30)
    huge = " ".join(["enormous query"] * 60)
    pairs = [*PAIRS, (PAIRS[0][0], long_passage), (huge, "short passage")]
    with pytest.warns(QueryTruncatedWarning):
        logits = plain.outputs(pairs).logits
    reference = _hf_logits(ce1_path, pairs[:-1])[:, 0]  # only_second: all but the query that fills the window
    np.testing.assert_allclose(logits[:-1], reference, atol=1e-5)
    plain._pads = None  # the other way: each batch tokenized by the model's preprocess
    with pytest.warns(QueryTruncatedWarning):
        np.testing.assert_allclose(plain.outputs(pairs).logits, logits, atol=1e-6)


def test_int8_path_keeps_the_order_roughly(ce1_path):
    fp32 = CrossEncoderReranker.load(str(ce1_path), device="cpu")
    int8 = CrossEncoderReranker.load(str(ce1_path), device="cpu", int8=True)
    a, b = fp32.predict(PAIRS), int8.predict(PAIRS)
    assert int8.info()["int8"] and np.abs(a - b).max() < 0.05
    assert np.corrcoef(a, b)[0, 1] > 0.95


def test_truncation_keeps_the_query_and_is_reported(ce1_path, caplog):
    reranker = CrossEncoderReranker.load(str(ce1_path), device="cpu")  # max length 64
    query = "why do proteins fold into stable structures"
    long_passage = " ".join(["protein chains fold through hydrophobic collapse"] * 30)
    pairs = [(query, long_passage), (query, "short passage"), ("another query", long_passage)]
    with caplog.at_level(logging.WARNING, logger="rerank.cross_encoder"):
        scores = reranker.predict(pairs)
    records = [r for r in caplog.records if "truncated" in r.getMessage()]
    assert len(records) == 1 and "truncated 2 of 3" in records[0].getMessage()
    assert reranker.last_stats.truncated == 2 and reranker.last_stats.query_truncated == 0
    enc = encode_pairs(reranker.tokenizer, [query], [long_passage], 64)
    text = reranker.tokenizer.decode(enc.input_ids[0])
    assert enc.lengths[0] == 64 and text.startswith(f"[CLS] {query} [SEP] protein chains")
    # the score is that of the passage cut by hand to what fits
    kept = reranker.tokenizer.decode(enc.input_ids[0][len(reranker.tokenizer(query)["input_ids"]):-1])
    assert reranker.predict([(query, kept)])[0] == pytest.approx(scores[0], abs=1e-5)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rerank.cross_encoder"):
        reranker.predict([(query, "short passage")])
    assert not [r for r in caplog.records if "truncated" in r.getMessage()]  # nothing cut, nothing said


def test_a_query_longer_than_the_model_is_cut_too(ce1_path, caplog):
    reranker = CrossEncoderReranker.load(str(ce1_path), device="cpu", precision="fp32")
    huge = " ".join(["enormous query"] * 60)
    with caplog.at_level(logging.WARNING, logger="rerank.cross_encoder"), pytest.warns(
        QueryTruncatedWarning, match="1 of 2 .* the reranker reads at most 64 tokens"
    ):
        scores = reranker.predict([(huge, "a passage"), ("fine", "a passage")])
    assert scores.shape == (2,) and np.isfinite(scores).all()
    assert reranker.last_stats.query_truncated == 1 and "queries were too long" in caplog.text
    plain = CrossEncoderReranker.load(str(ce1_path), device="cpu", packed=False)
    with pytest.warns(QueryTruncatedWarning):
        np.testing.assert_allclose(plain.predict([(huge, "a passage"), ("fine", "a passage")]), scores, atol=1e-5)


def test_token_batches_respect_the_budget_and_cover_every_pair():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 60, size=200)
    for padded in (False, True):
        batches = token_batches(lengths, max_tokens=256, padded=padded)
        assert sorted(np.concatenate(batches).tolist()) == list(range(200))
        for b in batches:
            cost = len(b) * lengths[b].max() if padded else lengths[b].sum()
            assert cost <= 256
        flat = np.concatenate(batches)
        assert (np.diff(lengths[flat]) <= 0).all()  # longest first: neighbours in a batch have similar lengths
    parts = token_batches(lengths[:10], max_tokens=10_000, padded=False, parts=2)
    assert len(parts) == 2 and abs(lengths[parts[0]].sum() - lengths[parts[1]].sum()) <= lengths[:10].max()
    assert [b.tolist() for b in token_batches(np.array([90]), max_tokens=50, padded=True)] == [[0]]


def test_score_follows_the_reranker_protocol(ce1_path):
    reranker = CrossEncoderReranker.load(str(ce1_path), device="cpu")
    assert isinstance(reranker, Reranker)
    first = [Hit(f"d{i}", 0.0, i + 1, title="t", text=p) for i, (_, p) in enumerate(PAIRS[:3])]
    hits = [first, [], [Hit("x", 0.0, 1, text="b")]]
    scores = reranker.score(["what is faiss", "nothing", "a"], hits)
    assert [s.shape for s in scores] == [(3,), (0,), (1,)]
    expected = reranker.predict([("what is faiss", f"t {p}") for _, p in PAIRS[:3]])  # passage = "title text"
    np.testing.assert_allclose(scores[0], expected, atol=1e-6)
    with pytest.raises(ValueError, match="candidate lists"):
        reranker.score(["q"], [])
    with pytest.raises(TypeError, match="list of"):
        reranker.predict(("q", "p"))
    with pytest.raises(TypeError, match="pair 0"):
        reranker.predict([("q", 3)])
    assert reranker.predict([]).shape == (0,)


def test_loading_errors_and_the_entry_point(ce1_path, tmp_path):
    from retrieval.plugins import available_rerankers, load_reranker

    assert "cross-encoder" in available_rerankers()
    assert isinstance(load_reranker(str(ce1_path), device="cpu"), CrossEncoderReranker)
    with pytest.raises(ModelLoadError, match="cannot load cross-encoder"):
        CrossEncoderReranker.load("no-such-org/no-such-reranker-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="folder exists"):
        CrossEncoderReranker.load(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="max_tokens"):
        CrossEncoderReranker.load(str(ce1_path), max_tokens=10)


def test_three_label_models_are_refused(tokenizer_dir, tmp_path):
    from sentence_transformers import CrossEncoder
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=16, num_labels=3)
    BertForSequenceClassification(config).save_pretrained(tmp_path / "nli")
    tokenizer.save_pretrained(tmp_path / "nli")
    model = CrossEncoder(str(tmp_path / "nli"), device="cpu")
    with pytest.raises(ValueError, match="num_labels 1 .* or 2"):
        CrossEncoderReranker(model, "three-labels")


def test_calibration_is_read_and_checked(ce1_path, tmp_path):
    import shutil

    assert CrossEncoderReranker.load(str(ce1_path)).threshold is None
    model = tmp_path / "calibrated"
    shutil.copytree(ce1_path, model)
    calibration = {"threshold": 0.62, "metric": "f1", "thresholds": {"f1": 0.62, "accuracy": 0.5}, "epoch": 2,
                   "activation": "sigmoid"}
    (model / "calibration.json").write_text(json.dumps(calibration))
    reranker = CrossEncoderReranker.load(str(model))
    assert reranker.threshold == 0.62 and reranker.info()["threshold"] == 0.62
    assert read_calibration(model)["thresholds"]["f1"] == 0.62
    (model / "calibration.json").write_text(json.dumps({**calibration, "activation": "softmax"}))
    with pytest.raises(ValueError, match="recalibrate"):
        CrossEncoderReranker.load(str(model))
    (model / "calibration.json").write_text(json.dumps({**calibration, "threshold": 3}))
    with pytest.raises(ValueError, match="probability"):
        CrossEncoderReranker.load(str(model))
    (model / "calibration.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_calibration(model)
