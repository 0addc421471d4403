"""Residual training (`rerank.train.residual`): the stage-1 score sits inside the loss as a fixed offset."""

from __future__ import annotations

import numpy as np
import pytest

from rerank.train.data import Example

CORPUS = [
    "Statins lower cholesterol and reduce cardiac mortality in older adults.",
    "Jazz musicians improvise over chord changes in small clubs.",
    "Protein folding is guided by hydrophobic collapse of the chain.",
    "Football scores rose after the rule change on offside.",
]


def _rows(offset_of) -> list[Example]:
    """Queries on the statins (0) and protein (2) passages, each against all four passages."""
    rows = []
    for i in range(16):
        topic = (i % 2) * 2
        query = " ".join(CORPUS[topic].split()[:2]).lower()
        for j, passage in enumerate(CORPUS):
            label = int(j == topic)
            rows.append(Example(f"q{i}", query, passage, label, f"d{j}", stage1_z=offset_of(topic, label)))
    return rows


def test_the_residual_loss_is_bce_of_the_logit_plus_the_offset(tmp_path, tokenizer_dir):
    import torch
    from sentence_transformers import CrossEncoder
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    from rerank.train.residual import ResidualBCELoss
    from rerank.train.scratch import kernel_cross_encoder

    model = CrossEncoder(str(kernel_cross_encoder(tokenizer_dir, tmp_path / "k", hidden_size=16, max_length=64,
                                                  corpus_texts=CORPUS)), device="cpu")
    queries, passages = ["statins mortality"] * 4, list(CORPUS)
    offsets, labels = [2.0, -1.0, 0.5, -3.0], torch.tensor([1, 0, 0, 1])
    logits = torch.as_tensor(model.predict(list(zip(queries, passages)), activation_fn=torch.nn.Identity()))
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits + torch.tensor(offsets), labels.float())
    got = ResidualBCELoss(model)([queries, passages, offsets], labels)
    assert float(got.detach()) == pytest.approx(float(expected), rel=1e-5)
    # With no offset it is the plain loss.
    plain = BinaryCrossEntropyLoss(model)([queries, passages], labels)
    zero = ResidualBCELoss(model)([queries, passages, [0.0] * 4], labels)
    assert float(zero.detach()) == pytest.approx(float(plain.detach()), rel=1e-6)
    with pytest.raises(ValueError, match="offset"):
        ResidualBCELoss(model)([queries, passages], labels)


def test_a_residual_reranker_learns_only_where_stage1_is_wrong(tmp_path, tokenizer_dir):
    """Stage 1 ranks the statins queries right and the protein queries wrong, by a wide margin.

    Trained on the text alone, the reranker moves both queries' term weights. As a residual, the
    statins pairs are already explained (their loss and gradient vanish) and only the protein
    query's term weights move.
    """
    from sentence_transformers import CrossEncoder

    from rerank.train.scratch import kernel_cross_encoder
    from rerank.train import train_cross_encoder
    from rerank.train.config import CrossEncoderConfig

    def stage1(topic: int, label: int) -> float:
        right = 10.0 if label else -10.0
        return right if topic == 0 else -right

    start = CrossEncoder(str(kernel_cross_encoder(tokenizer_dir, tmp_path / "start", hidden_size=16, max_length=64,
                                                  corpus_texts=CORPUS)), device="cpu")
    ids = {topic: start.tokenizer(" ".join(CORPUS[topic].split()[:2]).lower(), add_special_tokens=False)["input_ids"]
           for topic in (0, 2)}
    rows = _rows(stage1)
    moved = {}
    for name, offset in (("plain", 0.0), ("residual", 2.5)):
        config = CrossEncoderConfig(tokenizer=str(tokenizer_dir), architecture="kernel", shape={"hidden_size": 16},
                                    max_length=64, epochs=1, batch_size=8, train_embeddings=False, stage1_offset=offset)
        result = train_cross_encoder(rows, rows[-8:], tmp_path / name, config, show_progress=False, corpus_texts=CORPUS)
        change = (CrossEncoder(str(result.path), device="cpu").model.term_weights.weight - start.model.term_weights.weight).abs().detach()
        moved[name] = {topic: float(change[ids[topic]].max()) for topic in (0, 2)}
    assert moved["plain"][0] > 0.01 and moved["plain"][2] > 0.01, moved
    assert moved["residual"][0] < moved["plain"][0] / 10, moved
    assert moved["residual"][2] > moved["plain"][2] / 2, moved


def test_residual_training_needs_a_stage1_score_on_every_row(tmp_path, tokenizer_dir):
    from rerank.train import train_cross_encoder
    from rerank.train.config import CrossEncoderConfig

    rows = [r.__class__(r.query_id, r.query, r.passage, r.label, r.doc_id) for r in _rows(lambda t, l: 0.0)]
    config = CrossEncoderConfig(tokenizer=str(tokenizer_dir), architecture="kernel", shape={"hidden_size": 16},
                                max_length=64, epochs=1, batch_size=8, stage1_offset=1.0)
    with pytest.raises(ValueError, match="stage1_z"):
        train_cross_encoder(rows[:48], rows[48:], tmp_path / "ce", config, show_progress=False, corpus_texts=CORPUS)
    with pytest.raises(ValueError, match="num_labels"):
        CrossEncoderConfig(stage1_offset=1.0, num_labels=2)
    with pytest.raises(ValueError, match="stage1_offset"):
        CrossEncoderConfig(stage1_offset=-1.0)


def test_stage1_z_scores_each_rows_own_text_on_the_candidates_scale(static_encoder_path):
    from retrieval.encoder import Encoder
    from rerank.train.residual import with_stage1_z

    encoder = Encoder.load(str(static_encoder_path), device="cpu")
    rows = [Example("q", "statins mortality", p, int(i == 0), f"d{i}") for i, p in enumerate(CORPUS)]
    lists = [[0.9, 0.5, 0.1], [0.3, 0.1]]
    pooled = np.concatenate(lists)
    scored = with_stage1_z(rows, encoder, lists)
    q = encoder.encode_queries(["statins mortality"])[0]
    d = encoder.encode_documents(CORPUS, show_progress=False)
    if encoder.normalize:
        q, d = q / np.linalg.norm(q), d / np.linalg.norm(d, axis=1, keepdims=True)
    np.testing.assert_allclose([r.stage1_z for r in scored], (d @ q - pooled.mean()) / pooled.std(), rtol=1e-5)
    assert [(r.doc_id, r.label) for r in scored] == [(r.doc_id, r.label) for r in rows]


def test_a_residual_reranker_is_validated_on_the_text_alone(tmp_path, tokenizer_dir):
    """The evaluator scores the validation rows without their offsets: the epoch and thresholds are the model's own."""
    from sentence_transformers import CrossEncoder

    from rerank.train import train_cross_encoder
    from rerank.train.config import CrossEncoderConfig
    from rerank.train.evaluator import probabilities, threshold_metrics
    from rerank.train.fusion import raw_logits

    rows = _rows(lambda topic, label: (4.0 if label else -4.0) * (1 if topic == 0 else -1))
    config = CrossEncoderConfig(tokenizer=str(tokenizer_dir), architecture="kernel", shape={"hidden_size": 16},
                                max_length=64, epochs=2, batch_size=8, train_embeddings=False, stage1_offset=2.0)
    val = [r.__class__(r.query_id, r.query, r.passage, r.label, r.doc_id) for r in rows[48:]]  # no stage1_z
    result = train_cross_encoder(rows[:48], val, tmp_path / "ce", config, show_progress=False, corpus_texts=CORPUS)
    own = raw_logits(CrossEncoder(str(result.path), device="cpu"), [(r.query, r.passage) for r in val], 64)
    alone = threshold_metrics([r.label for r in val], probabilities(own)[0], beta=config.beta)
    assert result.calibration["validation"]["ap"] == pytest.approx(alone.ap)
    assert result.calibration["thresholds"] == pytest.approx(alone.thresholds())
