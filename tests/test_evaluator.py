"""The threshold evaluator: hand-computed cases, sklearn cross-checks, ties, midpoints."""

from __future__ import annotations

import numpy as np
import pytest

from rerank.train.evaluator import ThresholdEvaluator, log_loss, probabilities, threshold_metrics


def test_hand_computed_case():
    # scores high to low: 0.9(1) 0.8(0) 0.6(1) 0.2(0)
    m = threshold_metrics([1, 0, 1, 0], [0.9, 0.8, 0.6, 0.2], beta=1.0)
    assert m.ap == pytest.approx((1 / 1 + 2 / 3) / 2)  # precision at each positive: 1, 2/3
    # cut between 0.6 and 0.2 -> TP=2, FP=1, FN=0: F1 = 4/5, threshold the midpoint 0.4
    assert m.f1 == pytest.approx(0.8)
    assert m.f1_threshold == pytest.approx(0.4)
    # accuracy: cut at 0.85 -> 3/4 (first best when scanning from the top); MCC best there too
    assert m.accuracy == pytest.approx(0.75)
    assert m.accuracy_threshold == pytest.approx(0.85)
    assert m.mcc == pytest.approx(np.sqrt(1 / 3))
    assert m.mcc_threshold == pytest.approx(0.85)


def test_thresholds_are_midpoints_between_distinct_neighbours():
    scores = [0.1, 0.3, 0.3, 0.7, 0.95]
    m = threshold_metrics([0, 0, 0, 1, 1], scores)
    assert m.f1 == 1.0 and m.mcc == 1.0 and m.accuracy == 1.0
    assert m.f1_threshold == pytest.approx(0.5)  # between 0.3 and 0.7


def test_constant_predictions_score_as_the_prior_never_one():
    y = [1, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    m = threshold_metrics(y, [0.5] * 10, beta=2.0)
    prior = 0.2
    assert m.ap == pytest.approx(prior)
    assert m.mcc == 0.0
    assert m.accuracy == pytest.approx(1 - prior)
    assert m.f1 == pytest.approx(2 * prior / (1 + prior))  # everything positive, the best a constant can do
    assert max(m.ap, m.f1, m.fbeta, m.mcc) < 1.0


def test_ties_do_not_inflate_ap():
    # a tie between a positive and a negative counts as one step, not "positive first"
    assert threshold_metrics([1, 0], [0.5, 0.5]).ap == pytest.approx(0.5)
    assert threshold_metrics([0, 1, 1], [0.9, 0.4, 0.4]).ap == pytest.approx(2 / 3)


@pytest.mark.parametrize("seed", range(5))
def test_matches_sklearn(seed):
    from sklearn.metrics import accuracy_score, average_precision_score, f1_score, fbeta_score, matthews_corrcoef

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 60)
    y[:2] = [0, 1]
    s = np.round(rng.random(60), 1)  # rounding makes ties
    m = threshold_metrics(y, s, beta=2.0)
    assert m.ap == pytest.approx(average_precision_score(y, s))
    cuts = np.r_[np.unique(s), 2.0]
    best = lambda f: max(f(y, (s >= c).astype(int)) for c in cuts)  # noqa: E731 - brute force over every cut
    assert m.f1 == pytest.approx(best(lambda a, b: f1_score(a, b, zero_division=0)))
    assert m.fbeta == pytest.approx(best(lambda a, b: fbeta_score(a, b, beta=2.0, zero_division=0)))
    assert m.mcc == pytest.approx(best(matthews_corrcoef))
    assert m.accuracy == pytest.approx(best(accuracy_score))
    assert f1_score(y, (s >= m.f1_threshold).astype(int)) == pytest.approx(m.f1)
    assert matthews_corrcoef(y, (s >= m.mcc_threshold).astype(int)) == pytest.approx(m.mcc)


def test_bad_input_is_refused_clearly():
    with pytest.raises(ValueError, match="differ in length"):
        threshold_metrics([0, 1], [0.1])
    with pytest.raises(ValueError, match="0 or 1"):
        threshold_metrics([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        threshold_metrics([0, 1], [0.1, float("nan")])
    with pytest.raises(ValueError, match="empty"):
        threshold_metrics([], [])


def test_probabilities_and_loss():
    p, act = probabilities(np.array([0.0, 100.0]))
    assert act == "sigmoid" and p[0] == pytest.approx(0.5) and p[1] == pytest.approx(1.0)
    p, act = probabilities(np.array([[0.0, 0.0], [0.0, np.log(3.0)]]))
    assert act == "softmax" and p == pytest.approx([0.5, 0.75])
    assert log_loss(np.array([1, 0]), np.array([0.5, 0.5])) == pytest.approx(np.log(2))


class _ConstantModel:
    """A stand-in CrossEncoder giving every pair the same logit (what an untrained model may do)."""

    training = False

    def predict(self, pairs, **kwargs):
        return np.zeros(len(pairs))


def test_evaluator_reports_prior_for_a_constant_model_and_keeps_history():
    ev = ThresholdEvaluator([("q", "a"), ("q", "b"), ("q", "c"), ("q", "d")], [1, 0, 0, 0], beta=2.0)
    ev.store_metrics_in_model_card_data = lambda *a, **k: None
    out = ev(_ConstantModel(), epoch=1.0, steps=3)
    assert out["val_ap"] == pytest.approx(0.25) and out["val_mcc"] == 0.0
    assert set(out) >= {"val_loss", "val_f2", "val_f2_threshold", "val_accuracy_threshold"}
    assert ev.primary_metric == "val_ap"
    assert ev.history[0]["epoch"] == 1.0 and ev.best() is ev.history[0]
