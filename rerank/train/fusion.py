"""Training's side of the stage-1 weight: choose it on held-out lists, fit thresholds on fused scores.

`rerank.fusion` applies the weights and `rerank.train.stage1_weight` chooses them; this module runs
a trained reranker over the validation data to do both, fits a reranker ensemble's thresholds on
its fused probabilities (`ensemble_thresholds`), and rewrites a saved model's calibration when
stage 1 is retrained after the weight was chosen (`restandardise_stage1`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rerank.train.config import CrossEncoderConfig
from rerank.train.data import CandidateList, Example
from retrieval.types import Hit

if TYPE_CHECKING:
    from rerank.reranker_ensemble import RerankerEnsemble
    from rerank.train.stage1_weight import WeightEvidence

__all__ = [
    "choose_and_recalibrate", "ensemble_thresholds", "list_evidence", "list_sentence_scores", "raw_logits",
    "restandardise_stage1",
]


def raw_logits(model: Any, pairs: Sequence[tuple[str, str]], batch_size: int) -> Any:
    """A CrossEncoder's raw outputs (no activation) for (query, passage) pairs, as numpy."""
    import torch

    return model.predict(
        list(pairs), batch_size=batch_size, activation_fn=torch.nn.Identity(), show_progress_bar=False,
        convert_to_numpy=True,
    )


def list_sentence_scores(
    sentences: Any, lists: Sequence[CandidateList], titles: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Per list, each candidate's best-sentence similarity (`retrieval.sentences.SentenceScorer`).

    Scored on the passage the reranker is shown (a pseudo-query's positive has its sentence taken
    out); `titles` (doc id -> title) splits a passage embedded as "title text" back into both.
    """
    from retrieval.sentences import title_and_body

    titles = titles or {}
    kept = [c for c in lists if c.doc_ids]
    documents = [[title_and_body(p, titles.get(d, "")) for d, p in zip(c.doc_ids, c.passages)] for c in kept]
    return dict(zip((c.query_id for c in kept), sentences.score([c.query for c in kept], documents)))


def list_evidence(
    model: Any, lists: Sequence[CandidateList], batch_size: int = 64, sentences: Any = None,
    titles: Mapping[str, str] | None = None,
) -> WeightEvidence:
    """A reranker's logits of whole held-out candidate lists, with their stage-1 scores and labels.

    With `sentences` (a `SentenceScorer` on the stage 1 that made the lists) the candidates'
    best-sentence similarities too (`list_sentence_scores`).
    """
    from rerank.train.stage1_weight import WeightEvidence

    kept = [c for c in lists if c.doc_ids]
    return WeightEvidence(
        {c.query_id: raw_logits(model, [(c.query, p) for p in c.passages], batch_size) for c in kept},
        {c.query_id: c.stage1_scores for c in kept},
        {c.query_id: c.relevant for c in kept},
        None if sentences is None else list_sentence_scores(sentences, kept, titles),
    )


def choose_and_recalibrate(
    model: Any, validation: Sequence[Example], lists: Sequence[CandidateList], config: CrossEncoderConfig,
    more: Sequence[WeightEvidence] = (), sentences: Any = None, titles: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Choose the stage-1 weight on the held-out lists, then refit the thresholds on fused scores.

    `more`: other held-out queries' evidence to choose the weight on as well (`choose_stage1_weight`),
    e.g. cross-validation folds' (`rerank.train.recipe`); the thresholds are refitted on `validation` alone.
    Validation rows whose document is not in their query's candidate list (a positive stage 1
    missed) have no stage-1 score at search time either; they are left out of the refit.
    `sentences` (a `SentenceScorer` on the stage 1 that made `lists`; each `more` group then carries
    its own stage 1's sentence scores) chooses a sentence weight beside the stage-1 one.
    """
    from rerank.train.stage1_weight import choose_stage1_weight

    mine = list_evidence(model, lists, max(config.batch_size, 64), sentences, titles)
    chosen = choose_stage1_weight(
        mine.logits, mine.stage1_scores, mine.relevant, more=more, sentence_scores=mine.sentence_scores,
        rule=config.weight_rule,
    )
    cross = sum(len(e.logits) for e in more)
    out: dict[str, Any] = {
        "stage1_weight": float(chosen.weight),
        "stage1_mean": chosen.mean,
        "stage1_std": chosen.std,
        "fusion": {
            "metric": "ndcg@10",
            "rule": config.weight_rule,
            "queries": len(mine.logits) + cross,
            "grid": {f"{w:.6g}": round(v, 6) for w, v in chosen.table.items()},
            "note": "score = activation(logit + stage1_weight * (stage1_score - stage1_mean) / stage1_std)",
        },
    }
    if more:
        out["fusion"]["cross_validated_queries"] = cross
    if mine.sentence_scores is not None:
        out.update(
            sentence_weight=float(chosen.sentence_weight), sentence_mean=chosen.sentence_mean,
            sentence_std=chosen.sentence_std,
        )
        out["fusion"]["joint_grid"] = {f"{w:.6g},{b:.6g}": round(v, 6) for (w, b), v in chosen.joint.items()}
        out["fusion"]["note"] = (
            "score = activation(logit + stage1_weight * (stage1_score - stage1_mean) / stage1_std"
            " + sentence_weight * (sentence_score - sentence_mean) / sentence_std); joint_grid keys: stage1,sentence"
        )
    return out | _fused_thresholds(model, validation, lists, mine, chosen, config)


def _fused_thresholds(
    model: Any, validation: Sequence[Example], lists: Sequence[CandidateList], evidence: WeightEvidence, chosen: Any,
    config: CrossEncoderConfig,
) -> dict[str, Any]:
    """Thresholds refitted on the validation rows' fused probabilities (empty when nothing is fused).

    `evidence` is `lists`' (`list_evidence`), `chosen` the `rerank.train.stage1_weight.Stage1Weight`.
    """
    from rerank.fusion import fuse_stage1
    from rerank.train.evaluator import probabilities

    where = {(c.query_id, d): i for c in lists for i, d in enumerate(c.doc_ids)}
    rows = [r for r in validation if (r.query_id, r.doc_id) in where]
    if not (chosen.weight or chosen.sentence_weight) or len({r.label for r in rows}) < 2:
        return {}
    at = [(r.query_id, where[(r.query_id, r.doc_id)]) for r in rows]
    raw = raw_logits(model, [(r.query, r.passage) for r in rows], max(config.batch_size, 64))
    fused = fuse_stage1(raw, [evidence.stage1_scores[q][i] for q, i in at], chosen.weight, chosen.mean, chosen.std)
    if chosen.sentence_weight:
        fused = fuse_stage1(
            fused, [evidence.sentence_scores[q][i] for q, i in at], chosen.sentence_weight, chosen.sentence_mean,
            chosen.sentence_std,
        )
    probs, _ = probabilities(fused)
    return _fitted_thresholds([r.label for r in rows], probs, config.beta)


def _fitted_thresholds(labels: Sequence[int], probs: Any, beta: float) -> dict[str, Any]:
    """The calibration entries of fused probabilities: the F1 threshold, every metric's, and their scores."""
    from rerank.train.evaluator import threshold_metrics

    m = threshold_metrics(labels, probs, beta=beta)
    return {
        "threshold": float(m.f1_threshold),
        "thresholds": {k: float(v) for k, v in m.thresholds().items()},
        "validation_fused": {k: float(getattr(m, k)) for k in ("ap", "f1", "fbeta", "mcc", "accuracy")}
        | {"rows": len(labels)},
    }


def ensemble_thresholds(
    ensemble: RerankerEnsemble, labelled: Sequence[tuple[str, Sequence[Hit], Sequence[int]]], beta: float = 1.0,
) -> dict[str, Any]:
    """A reranker ensemble's calibration: best-threshold metrics of its probabilities on labelled lists.

    `labelled`: (query, hits with their stage-1 scores, 0/1 relevance per hit) per held-out query.
    The thresholds are `rerank.train.evaluator.threshold_metrics`'s (midpoints between sorted neighbours).
    """
    if not labelled:
        raise ValueError("no labelled lists to calibrate the ensemble on")
    probs = np.concatenate(ensemble.score([q for q, _, _ in labelled], [hits for _, hits, _ in labelled]))
    fitted = _fitted_thresholds([int(y) for _, _, ys in labelled for y in ys], probs, beta)
    return {
        "threshold": fitted["threshold"],
        "metric": "f1",
        "thresholds": fitted["thresholds"],
        "activation": ensemble.activation,
        "beta": beta,
        "stage1_weight": ensemble.stage1_weight,
        "validation_fused": fitted["validation_fused"],
        "ensemble": {"parts": [Path(p.name).name for p in ensemble.parts], "weights": ensemble.weights,
                     "note": "score = activation(weighted mean of the parts' fused logits)"},
    }


def restandardise_stage1(
    reranker_dir: str | Path, before: Sequence[Sequence[float]], after: Sequence[Sequence[float]],
    sentence_before: Sequence[Sequence[float]] | None = None, sentence_after: Sequence[Sequence[float]] | None = None,
) -> dict[str, Any]:
    """Keep a trained reranker's stage-1 weight and thresholds, on a retrained stage 1's score scale.

    For a stage 1 retrained after the weight was chosen (e.g. on every labelled query). `before` and
    `after` are the old and the new stage 1's scores of their own top candidates for the same queries,
    queries *neither* trained on (e.g. corpus sentences kept out of both). Their pooled means and
    standard deviations give the affine map from the old scale to the new one
    (``after ~ scale * before + shift``), and the reranker's standardisation goes through it, so the
    weight acts on the same z-scale. (Queries the new stage 1 trained on would overstate its spread,
    so they are not used.) The thresholds stay the ones fitted with the held-out stage 1. The old standardisation is
    kept under ``"stage1_before"``; the file is replaced atomically. A fused sentence score
    (``sentence_weight``) moves the same way, given both stage 1s' sentence scores of the same
    lists' candidates (`sentence_before`, `sentence_after`; kept under ``"sentence_before"``).

    Example:
        >>> restandardise_stage1("models/ce", [[0.5, 0.3]], [[0.6, 0.4]])  # doctest: +SKIP
    """
    from rerank.calibration import read_calibration

    reranker_dir = Path(reranker_dir)
    calibration = read_calibration(reranker_dir)
    if calibration is None or "stage1_mean" not in calibration:
        raise FileNotFoundError(f"{reranker_dir} has no stage-1 standardisation; train it with fuse_stage1 first")
    calibration.update(_moved(calibration, "stage1", before, after))
    if calibration.get("sentence_weight"):
        if sentence_before is None or sentence_after is None:
            raise ValueError(
                f"{reranker_dir} fuses sentence scores (sentence_weight in calibration.json): pass both stage 1s' "
                "sentence scores of the same candidates (sentence_before, sentence_after)"
            )
        calibration.update(_moved(calibration, "sentence", sentence_before, sentence_after))
    tmp = reranker_dir / ".calibration.json.tmp"
    tmp.write_text(json.dumps(calibration, indent=2))
    tmp.replace(reranker_dir / "calibration.json")
    return calibration


def _moved(
    calibration: dict[str, Any], name: str, before: Sequence[Sequence[float]], after: Sequence[Sequence[float]]
) -> dict[str, Any]:
    """`name`_mean and `name`_std carried from the `before` scale to the `after` one (affine, pooled moments)."""
    from rerank.train.stage1_weight import stage1_standardisation

    if not any(len(s) for s in before) or not any(len(s) for s in after):
        raise ValueError("no scores to compare the two stage 1s on: pass their scores of the same unseen queries")
    mean_before, std_before = stage1_standardisation(before)
    mean_after, std_after = stage1_standardisation(after)
    scale = std_after / std_before
    shift = mean_after - scale * mean_before
    old = {f"{name}_mean": calibration[f"{name}_mean"], f"{name}_std": calibration[f"{name}_std"]}
    return {
        f"{name}_mean": scale * old[f"{name}_mean"] + shift,
        f"{name}_std": scale * old[f"{name}_std"],
        f"{name}_before": old,
        f"{name}_transfer": {"queries": sum(1 for s in before if len(s)), "scale": scale, "shift": shift},
    }
