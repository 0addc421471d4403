"""Choose the weights of the stage-1 evidence a reranker fuses (`rerank.fusion`), on held-out queries.

Each weight is picked from a grid by the ranking metric of the fused scores on held-out training
queries' whole candidate lists (ranx), never on test queries; the grid is in units of the
reranker's logit spread, so it suits any logit scale.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from rerank.fusion import stage1_z

__all__ = ["GRID", "RULES", "WIDE_GRID", "Stage1Weight", "WeightEvidence", "choose_stage1_weight", "stage1_standardisation"]

# How `choose_stage1_weight` picks a weight from the grid's held-out metrics.
RULES = ("best", "one-se")
# The default grid, in units of the reranker's logit spread, and a wider one that reaches weights where
# the reranker only breaks stage 1's near-ties (for a reranker whose logits barely spread).
GRID = (0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
WIDE_GRID = GRID + (8.0, 13.0, 20.0, 35.0, 50.0)


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
    grid: Sequence[float] | None = None,
    metric: str = "ndcg@10",
    more: Sequence[WeightEvidence] = (),
    sentence_scores: Mapping[str, Sequence[float]] | None = None,
    sentence_grid: Sequence[float] = (0.0, 0.25, 0.5, 1.0),
    rule: str = "best",
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
        rule: ``"best"`` takes the best-scoring weight; ``"one-se"`` the largest stage-1 weight whose
            mean metric is within one standard error (of its per-query difference from the best
            weight) of the best: the one-standard-error rule, leaning on stage 1, which was fitted
            on far more queries than the held-out ones that pick the weight.
        grid: the weights tried, in logit-spread units; by default `GRID` for ``"best"`` and
            `WIDE_GRID` for ``"one-se"`` (room to lean on stage 1 when the reranker's logits barely spread).

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
    if rule not in RULES:
        raise ValueError(f"unknown weight rule {rule!r}; choose one of {RULES}")
    if grid is None:
        grid = WIDE_GRID if rule == "one-se" else GRID
    qrels = Qrels({f"{k}:{q}": rel for k, g in enumerate(groups) for q, rel in g.qrels.items()})
    joint: dict[tuple[float, float], float] = {}
    per_query: dict[tuple[float, float], np.ndarray] = {}
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
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*unsafe cast from uint64")  # numba, inside ranx
                scores = np.asarray(evaluate(qrels, Run(run), metric, return_mean=False), dtype=np.float64)
            key = (float(a) * first.unit, float(b) * first.unit)
            joint[key], per_query[key] = float(scores.mean()), scores
    best = max(joint.values())
    weight, sentence_weight = min(((w, s) for (w, s), v in joint.items() if v >= best - 1e-12), key=lambda ws: (ws[1], ws[0]))
    table = {w: v for (w, s), v in joint.items() if s == sentence_weight}
    if rule == "one-se":
        weight = _one_standard_error(per_query, weight, sentence_weight)
    return Stage1Weight(
        weight, first.mean, first.std, table, sentence_weight, first.sentence_mean, first.sentence_std,
        joint if with_sentences else {},
    )


def _one_standard_error(per_query: Mapping[tuple[float, float], np.ndarray], best: float, sentence_weight: float) -> float:
    """The largest stage-1 weight (at `sentence_weight`) whose mean is within one standard error of `best`'s."""
    top = per_query[(best, sentence_weight)]
    kept = best
    for (w, s), scores in per_query.items():
        if s != sentence_weight or w <= kept:
            continue
        diff = scores - top
        se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
        if diff.mean() >= -se:
            kept = w
    return kept


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
