"""Residual training: the reranker learns what stage 1 misses, not what stage 1 already knows.

The Searcher adds ``weight * z(stage-1 score)`` to the reranker's logit (`rerank.fusion`). A
reranker trained on the text alone spends its capacity re-learning stage 1's ranking, and the
fused score counts that evidence twice. Trained as a residual, the same offset sits inside the
loss: ``BCEWithLogits(logit(query, passage) + offset, label)`` with ``offset = stage1_offset *
z``, so the gradient comes from the pairs stage 1 ranks wrong (boosting on stage 1's score).
The offset is a fixed input column, never a parameter; prediction is unchanged (text in, one
logit out), and the stage-1 weight is then chosen on held-out lists as for any reranker.

The stage-1 scores must be honest ones: from a stage 1 that did not train on the query. Without
labels the recipe's pseudo-queries are sentences stage 1 never trained on; with labels it
cross-fits stage 1 (`rerank.train.recipe`), since a stage 1 scores its own training queries' positives
near the top and leaves the residual nothing to learn from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

from rerank.train.data import Example

__all__ = ["ResidualBCELoss", "with_stage1_z"]


class ResidualBCELoss(BinaryCrossEntropyLoss):
    """`BinaryCrossEntropyLoss` on ``logit + offset``: columns (query, passage, offset), then label.

    Example:
        >>> loss = ResidualBCELoss(CrossEncoder("models/ce"))  # doctest: +SKIP
        >>> Dataset.from_dict({"query": [...], "passage": [...], "offset": [...], "label": [...]})  # doctest: +SKIP
    """

    def forward(self, inputs: list[list[Any]], labels: Any, prompt: str | None = None, task: str | None = None) -> Any:
        import torch
        from sentence_transformers.util import batch_to_device

        if len(inputs) != 3:
            raise ValueError(
                f"ResidualBCELoss expects the columns (query, passage, offset) before the label, got {len(inputs)}"
            )
        features = batch_to_device(self.model.preprocess(list(zip(inputs[0], inputs[1])), prompt=prompt, task=task), self.model.device)
        logits = self.activation_fn(self.model(features)["scores"].view(-1))
        offsets = torch.as_tensor(inputs[2], dtype=logits.dtype, device=logits.device).view(-1)
        return self.bce_with_logits_loss(logits + offsets, labels.view(-1).to(logits.dtype))


def with_stage1_z(rows: Sequence[Example], encoder: Any, candidate_scores: Sequence[Sequence[float]]) -> list[Example]:
    """The rows with `stage1_z`: `encoder`'s score of each row's own (query, passage) text, standardised.

    Scored on the text the reranker is shown (a pseudo-query's positive without its sentence), and
    standardised by the mean and spread of `encoder`'s scores of its own candidate lists
    (`candidate_scores`), the scale `rerank.fusion` standardises stage 1 on at search time.

    Example:
        >>> with_stage1_z(rows, Encoder.load("models/st"), [[0.8, 0.5, 0.4]])[0].stage1_z  # doctest: +SKIP
        1.3
    """
    import numpy as np

    from rerank.train.stage1_weight import stage1_standardisation

    if not rows:
        return []
    mean, std = stage1_standardisation(candidate_scores)

    def unit(v: np.ndarray) -> np.ndarray:
        return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12) if encoder.normalize else v

    queries = sorted({r.query for r in rows})
    passages = sorted({r.passage for r in rows})
    qv = dict(zip(queries, unit(np.asarray(encoder.encode_queries(queries)))))
    pv = dict(zip(passages, unit(np.asarray(encoder.encode_documents(passages, show_progress=False)))))
    return [replace(r, stage1_z=float((qv[r.query] @ pv[r.passage] - mean) / std)) for r in rows]
