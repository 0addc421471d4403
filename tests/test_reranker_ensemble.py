"""Reranker ensembles: the activation of the parts' weighted mean fused logit, saved, reloaded, calibrated."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rerank import CrossEncoderReranker
from rerank.train.evaluator import threshold_metrics
from rerank.reranker_ensemble import ENSEMBLE_FILE, RerankerEnsemble, is_reranker_ensemble, save_reranker_ensemble
from rerank.train.fusion import ensemble_thresholds
from rerank.train.scratch import random_cross_encoder
from retrieval.types import Hit

PASSAGES = ["faiss searches dense vectors", "bm25 ranks by term counts", "jazz music on the radio", "protein folding"]


def _calibrate(folder, weight):
    (folder / "calibration.json").write_text(json.dumps(
        {"threshold": 0.5, "activation": "sigmoid", "stage1_weight": weight, "stage1_mean": 0.5, "stage1_std": 0.25}
    ))


@pytest.fixture(scope="module")
def ensemble_dir(tmp_path_factory, tokenizer_dir):
    folder = tmp_path_factory.mktemp("reranker_ensemble")
    for name, seed, weight in (("a", 1, 1.5), ("b", 2, 0.0)):
        random_cross_encoder(tokenizer_dir, folder / name, max_length=64, seed=seed, init_std=0.5)
        _calibrate(folder / name, weight)
    return save_reranker_ensemble(folder, ["a", "b"], [3.0, 1.0], {"threshold": 0.25, "activation": "sigmoid"})


def _hits():
    return [Hit(f"d{i}", 0.0, i + 1, "", p, stage1_score=0.9 - 0.2 * i, stage1_rank=i + 1) for i, p in enumerate(PASSAGES)]


def test_score_is_the_activation_of_the_weighted_mean_fused_logit(ensemble_dir):
    ensemble = CrossEncoderReranker.load(str(ensemble_dir), device="cpu")
    assert isinstance(ensemble, RerankerEnsemble) and is_reranker_ensemble(ensemble_dir)
    assert ensemble.threshold == 0.25 and ensemble.weights == [3.0, 1.0]
    a, b = (CrossEncoderReranker.load(str(ensemble_dir / n), device="cpu") for n in ("a", "b"))
    queries, lists = ["dense vector search"], [_hits()]
    fused_a, fused_b = a.fused_logits(queries, lists)[0].reshape(-1), b.fused_logits(queries, lists)[0].reshape(-1)
    # Part a adds its own stage-1 evidence (weight 1.5 on the z-score), part b none.
    z = (np.array([h.stage1_score for h in _hits()]) - 0.5) / 0.25
    raw_a = a.predict([(queries[0], p) for p in PASSAGES])
    np.testing.assert_allclose(fused_a, np.log(raw_a / (1 - raw_a)) + 1.5 * z, rtol=1e-4, atol=1e-5)
    mean = (3 * fused_a + fused_b) / 4
    np.testing.assert_allclose(ensemble.score(queries, lists)[0], 1 / (1 + np.exp(-mean)), rtol=1e-12)
    assert ensemble.stage1_weight == pytest.approx(1.125)
    assert [p["name"] for p in ensemble.info()["ensemble"]] == [str(ensemble_dir / "a"), str(ensemble_dir / "b")]


def test_thresholds_are_fitted_on_the_ensembles_probabilities(ensemble_dir):
    ensemble = CrossEncoderReranker.load(str(ensemble_dir), device="cpu")
    labelled = [("dense vector search", _hits(), [1, 0, 0, 0]), ("folding of proteins", _hits(), [0, 0, 0, 1])]
    calibration = ensemble_thresholds(ensemble, labelled, beta=2.0)
    probs = np.concatenate(ensemble.score([q for q, _, _ in labelled], [h for _, h, _ in labelled]))
    expected = threshold_metrics([1, 0, 0, 0, 0, 0, 0, 1], probs, beta=2.0)
    assert calibration["threshold"] == expected.f1_threshold and calibration["thresholds"]["f2"] == expected.fbeta_threshold
    part = CrossEncoderReranker.load(str(ensemble_dir / "a"), device="cpu")
    part_probs = np.concatenate(part.score([q for q, _, _ in labelled], [h for _, h, _ in labelled]))
    assert not np.allclose(part_probs, probs)  # fitted on the ensemble's scores, not a part's
    assert calibration["validation_fused"]["rows"] == 8 and 0 < calibration["validation_fused"]["ap"] <= 1
    assert set(calibration["thresholds"]) >= {"f1", "accuracy", "f2", "mcc"}
    with pytest.raises(ValueError, match="no labelled lists"):
        ensemble_thresholds(ensemble, [])


def test_bad_ensembles_are_refused_with_the_fix(ensemble_dir, tmp_path, tokenizer_dir):
    with pytest.raises(ValueError, match="one weight per part"):
        save_reranker_ensemble(ensemble_dir, ["a", "b"], [1.0])
    with pytest.raises(ValueError, match="positive and finite"):
        save_reranker_ensemble(ensemble_dir, ["a", "b"], [1.0, 0.0])
    with pytest.raises(ValueError, match="sub-folder"):
        save_reranker_ensemble(ensemble_dir, ["a", "../b"])
    with pytest.raises(FileNotFoundError, match="not a saved cross-encoder"):
        save_reranker_ensemble(ensemble_dir, ["a", "missing"])
    # A refused save leaves the saved description as it was.
    assert json.loads((ensemble_dir / ENSEMBLE_FILE).read_text())["weights"] == [3.0, 1.0]
    random_cross_encoder(tokenizer_dir, tmp_path / "one", max_length=64)
    random_cross_encoder(tokenizer_dir, tmp_path / "two", max_length=64, num_labels=2)
    parts = [CrossEncoderReranker.load(str(tmp_path / n), device="cpu") for n in ("one", "two")]
    with pytest.raises(ValueError, match="share one activation"):
        RerankerEnsemble(parts, str(tmp_path))
    (tmp_path / ENSEMBLE_FILE).write_text(json.dumps({"format_version": 99, "parts": ["one"], "weights": [1.0]}))
    with pytest.raises(ValueError, match="format_version"):
        CrossEncoderReranker.load(str(tmp_path))
