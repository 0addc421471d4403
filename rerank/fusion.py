"""Stage-1 evidence inside the reranker's score: ``logit + weight * z``.

`z` is the stage-1 score standardised by the mean and standard deviation of stage-1 scores over
the held-out candidate lists it was calibrated on, so the weight means the same for any
retriever's score scale, and each pair's fused score depends on that pair alone (reranking the top
10 or the top 100 gives the top 10 the same scores). The fused logit goes through the usual
activation, so the reranker's score stays a probability (and its calibrated thresholds are fitted
on fused scores). Interpolating the first stage's score with the reranker's
is standard practice for rerankers trained on little data; the weight is chosen on held-out
training queries, never on test queries, and weight 0 is the plain cross-encoder.

A second stage-1 score can be fused the same way: the best similarity of the query to any one
sentence of the candidate (`retrieval.sentences`), with its own weight and standardisation; the two
weights are then chosen together on a grid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Stage1Weight", "WeightEvidence", "choose_stage1_weight", "fuse_stage1", "stage1_z"]


@dataclass(frozen=True)
class Stage1Weight:
    """The chosen weights, the standardisations, and the held-out metric per weight.

    `table` is the metric per stage-1 weight at the chosen sentence weight; `joint`, with sentence
    scores, the metric per (stage-1 weight, sentence weight). Weights are in logit units.
    """

    weight: float
    mean: float
    std: float
    table: dict[float, float]
    sentence_weight: float = 0.0
    sentence_mean: float = 0.0
    sentence_std: float = 1.0
    joint: dict[tuple[float, float], float] = field(default_factory=dict)


def stage1_z(scores: Sequence[float] | np.ndarray, mean: float, std: float) -> np.ndarray:
    """Stage-1 scores standardised with the calibrated mean and standard deviation.

    Example:
        >>> stage1_z([0.7, 0.5], mean=0.5, std=0.1).round(6).tolist()
        [2.0, 0.0]
    """
    if not std > 0:
        raise ValueError(f"the stage-1 standard deviation must be positive, got {std!r}")
    return (np.asarray(scores, dtype=np.float64).reshape(-1) - mean) / std


def fuse_stage1(
    logits: np.ndarray, stage1_scores: Sequence[float] | np.ndarray, weight: float, mean: float = 0.0, std: float = 1.0
) -> np.ndarray:
    """Logits with ``weight * (stage1_scores - mean) / std`` added to the relevance logit.

    Shape ``[n]`` or ``[n, 1]`` (one logit) or ``[n, 2]`` (two logits: added to class 1's, so the
    softmax probability of "relevant" moves as the sigmoid's would). Float64: with a large weight the
    fused logits pass 17, where a float32 sigmoid rounds to exactly 1.0 and ties the top candidates.

    Example:
        >>> fuse_stage1(np.array([0.0, 0.0]), [2.0, 1.0], 0.5, mean=1.5, std=0.5).tolist()
        [0.5, -0.5]
    """
    out = np.array(logits, dtype=np.float64, copy=True)
    if not weight:
        return out
    if len(stage1_scores) != len(out):
        raise ValueError(f"{len(out)} logits but {len(stage1_scores)} stage-1 scores; pass one per candidate")
    z = weight * stage1_z(stage1_scores, mean, std)
    if out.ndim == 2 and out.shape[1] == 2:
        out[:, 1] += z
    else:
        out.reshape(len(out), -1)[:, 0] += z
    return out


def _ranking_logit(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim == 2 and logits.shape[1] == 2:
        return logits[:, 1] - logits[:, 0]
    return logits.reshape(-1)


def stage1_standardisation(score_lists: Sequence[Sequence[float]]) -> tuple[float, float]:
    """Mean and standard deviation of stage-1 scores pooled over candidate lists (std 1 when constant).

    Example:
        >>> stage1_standardisation([[1.0, 3.0], [2.0]])
        (2.0, 0.816496580927726)
    """
    pooled = np.concatenate([np.asarray(s, dtype=np.float64).reshape(-1) for s in score_lists])
    std = float(pooled.std())
    # Stage 1 gave every candidate the same score: its weight cannot matter, any scale will do.
    return float(pooled.mean()), std if std > 1e-12 else 1.0


def choose_stage1_weight(
    logits: Mapping[str, np.ndarray],
    stage1_scores: Mapping[str, Sequence[float]],
    relevant: Mapping[str, Sequence[int]],
    grid: Sequence[float] = (0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0),
    metric: str = "ndcg@10",
    more: Sequence[WeightEvidence] = (),
    sentence_scores: Mapping[str, Sequence[float]] | None = None,
    sentence_grid: Sequence[float] = (0.0, 0.25, 0.5, 1.0),
) -> Stage1Weight:
    """The weight of `grid` whose fused ranking scores best on held-out queries (ranx).

    Stage-1 scores are standardised by their mean and standard deviation over all the lists. The
    grid is in units of the reranker's typical logit spread within a list (the median over lists of
    the standard deviation of its ranking logits), so it suits any logit scale; the returned weight
    is in logit units. Ties go to the smaller weight.

    Args:
        logits: per query, the reranker's logits of its stage-1 candidate list.
        stage1_scores: per query, stage 1's scores of the same list.
        relevant: per query, 1 for a candidate labelled relevant, else 0.
        more: further held-out queries scored by other rerankers and stage 1s (e.g. cross-validation
            folds: a reranker trained without a fold's queries, on candidates from a stage 1 trained
            without them). Each group is standardised on its own stage-1 scale and measured in its
            own logit spread, and the metric is taken over every group's queries together; the
            returned weight, standardisation and table stay those of the first group's reranker.
        sentence_scores: per query, the candidates' best-sentence similarities (`retrieval.sentences`),
            to fuse as well; the two weights are then chosen together over `grid` x `sentence_grid`
            (same units; ties go to the smaller sentence weight, then the smaller stage-1 weight).
            Every `more` group must then carry sentence scores too.

    Returns:
        A `Stage1Weight`: the weights, the standardisations, and the metric over the grid.

    Example:
        >>> chosen = choose_stage1_weight({"q": np.array([0.0, 1.0])}, {"q": [2.0, 1.0]}, {"q": [1, 0]})
        >>> chosen.weight > 0, chosen.table[0.0] < max(chosen.table.values())
        (True, True)
    """
    from ranx import Qrels, Run, evaluate

    first = _Lists.of(WeightEvidence(logits, stage1_scores, relevant, sentence_scores))
    if first is None:
        raise ValueError("no held-out query has a relevant candidate: cannot choose a stage-1 weight")
    groups = [first] + [g for g in (_Lists.of(e) for e in more) if g is not None]
    with_sentences = sentence_scores is not None
    if with_sentences and any(g.sentence is None for g in groups):
        raise ValueError("sentence_scores were given, but a `more` group has none: pass every group's sentence scores")
    qrels = Qrels({f"{k}:{q}": rel for k, g in enumerate(groups) for q, rel in g.qrels.items()})
    joint: dict[tuple[float, float], float] = {}
    for b in sentence_grid if with_sentences else (0.0,):
        for a in grid:
            run = {}
            for k, g in enumerate(groups):
                for q, ranking in g.ranking.items():
                    fused = ranking + float(a) * g.unit * stage1_z(g.stage1[q], g.mean, g.std)
                    if b:
                        fused = fused + float(b) * g.unit * stage1_z(g.sentence[q], g.sentence_mean, g.sentence_std)
                    # Nudge exact ties by position so ranx reads stage 1's order for them.
                    fused = fused - np.arange(len(fused)) * 1e-9
                    run[f"{k}:{q}"] = {str(i): float(s) for i, s in enumerate(fused)}
            joint[(float(a) * first.unit, float(b) * first.unit)] = float(evaluate(qrels, Run(run), metric))
    best = max(joint.values())
    weight, sentence_weight = min(((w, s) for (w, s), v in joint.items() if v >= best - 1e-12), key=lambda ws: (ws[1], ws[0]))
    table = {w: v for (w, s), v in joint.items() if s == sentence_weight}
    return Stage1Weight(
        weight, first.mean, first.std, table, sentence_weight, first.sentence_mean, first.sentence_std,
        joint if with_sentences else {},
    )


@dataclass(frozen=True)
class WeightEvidence:
    """One reranker's held-out lists for `choose_stage1_weight`: per query, logits, stage-1 scores, relevance
    (and, when sentence evidence is fused, best-sentence similarities from the same stage 1)."""

    logits: Mapping[str, np.ndarray]
    stage1_scores: Mapping[str, Sequence[float]]
    relevant: Mapping[str, Sequence[int]]
    sentence_scores: Mapping[str, Sequence[float]] | None = None


@dataclass(frozen=True)
class _Lists:
    """A group's ranking logits, its logit unit, stage-1 (and sentence) scales and qrels (queries with a relevant candidate)."""

    ranking: dict[str, np.ndarray]
    stage1: dict[str, Sequence[float]]
    unit: float
    mean: float
    std: float
    qrels: dict[str, dict[str, int]]
    sentence: dict[str, Sequence[float]] | None = None
    sentence_mean: float = 0.0
    sentence_std: float = 1.0

    @classmethod
    def of(cls, e: WeightEvidence) -> _Lists | None:
        qids = [q for q in e.logits if any(e.relevant[q])]
        if not qids:
            return None
        ranking = {q: _ranking_logit(e.logits[q]) for q in qids}
        spreads = [float(r.std()) for r in ranking.values() if len(r) > 1]
        unit = float(np.median(spreads)) if spreads and np.median(spreads) > 1e-9 else 1.0
        mean, std = stage1_standardisation([e.stage1_scores[q] for q in qids])
        qrels = {q: {str(i): 1 for i, r in enumerate(e.relevant[q]) if r} for q in qids}
        sentence = None if e.sentence_scores is None else {q: e.sentence_scores[q] for q in qids}
        s_mean, s_std = (0.0, 1.0) if sentence is None else stage1_standardisation(list(sentence.values()))
        return cls(ranking, {q: e.stage1_scores[q] for q in qids}, unit, mean, std, qrels, sentence, s_mean, s_std)
