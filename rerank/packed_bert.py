"""A packed, padding-free inference forward for BERT cross-encoders.

`PackedBert(model)(input_ids, token_type_ids, lengths)` gives the same logits as the model's own
forward (fp32; differences are float rounding, about 1e-7), with less work on a CPU. It runs the
body through `retrieval.packed_forward.PackedBertBody` (no padding, fused kernels, one QKV product;
int8 weights packed for oneDNN on AMX CPUs) and adds the head. Two heads:
``BertForSequenceClassification`` (pooled [CLS], most cross-encoders: the last layer computes only
the [CLS] token's rows, about a sixth of a 6-layer model's work saved), and a sentence-transformers
CrossEncoder of modules Transformer (a ``BertModel``), mean Pooling and a linear Dense writing
``scores`` (`rerank.train.initial.mean_pooling_cross_encoder`), which reads every token.

It is a snapshot: the stacked QKV matrices (and int8 weights) are copies, so build it after the
weights are final. Other models are refused by `supports`, and callers keep the model's own
forward for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from retrieval.packed_forward import PackedBertBody, checked_bert

__all__ = ["PackedBert"]


def _mean_head(model: Any) -> tuple[Any, Any] | str:
    """(BertModel, linear head) of a CrossEncoder made of Transformer, mean Pooling and a linear Dense
    writing ``scores``, or why `model` is not one."""
    from sentence_transformers.base.modules import Dense
    from sentence_transformers.sentence_transformer.modules import Pooling

    parts = list(model)
    if len(parts) != 3 or not isinstance(parts[1], Pooling) or not isinstance(parts[2], Dense):
        return f"its modules are {[type(p).__name__ for p in parts]}, not Transformer, Pooling, Dense"
    pooling, dense = parts[1], parts[2]
    if pooling.pooling_mode != "mean" or not pooling.include_prompt:
        return f"its pooling is {pooling.pooling_mode!r}, the packed forward supports 'mean' over every token"
    if dense.module_output_name != "scores" or not isinstance(dense.activation_function, torch.nn.Identity):
        return "its Dense head is not a linear layer writing 'scores'"
    if getattr(dense, "use_residual", False):
        return "its Dense head has a residual"
    body = getattr(parts[0], "model", None)
    return body, dense.linear


class PackedBert:
    """Padding-free inference for a BERT cross-encoder.

    Args:
        model: a Hugging Face ``BertForSequenceClassification``, a sentence-transformers CrossEncoder
            wrapping one, or a CrossEncoder of Transformer (``BertModel``), mean Pooling and a
            linear Dense head (eval mode; dropout is not applied).
        int8: run the encoder's linear layers with int8 dynamic quantisation.

    Example:
        >>> packed = PackedBert(cross_encoder)  # doctest: +SKIP
        >>> packed(ids, token_types, [12, 40]).shape  # doctest: +SKIP
        torch.Size([2, 1])
    """

    def __init__(self, model: Any, int8: bool = False) -> None:
        found = self._parts(model)
        if isinstance(found, str):
            raise ValueError(f"PackedBert cannot run this model: {found}")
        bert, self.head, self.pooling = found
        self.body = PackedBertBody(bert, int8=int8)

    @staticmethod
    def _parts(model: Any) -> tuple[Any, Any, str] | str:
        """(BertModel, head, ``"cls"`` or ``"mean"``), or why `model` is not supported."""
        from sentence_transformers import CrossEncoder

        if isinstance(model, CrossEncoder):
            if len(model) > 1:
                found = _mean_head(model)
                if isinstance(found, str):
                    return found
                body, linear = found
                reason = checked_bert(body)
                return reason if reason is not None else (body, linear, "mean")
            model = model.model
        config = getattr(model, "config", None)
        if type(model).__name__ != "BertForSequenceClassification" or config is None:
            return f"{type(model).__name__} is not a BertForSequenceClassification"
        if model.bert.pooler is None:
            return "the model has no pooler"
        reason = checked_bert(model.bert)
        if reason is not None:
            return reason
        pooler = model.bert.pooler
        return model.bert, lambda cls: model.classifier(pooler.activation(pooler.dense(cls))), "cls"

    @classmethod
    def unsupported_reason(cls, model: Any) -> str | None:
        """Why `model` is not a BERT cross-encoder this forward reproduces, or None."""
        found = cls._parts(model)
        return found if isinstance(found, str) else None

    @classmethod
    def supports(cls, model: Any) -> bool:
        """True when `model` can run through the packed forward."""
        return cls.unsupported_reason(model) is None

    @torch.inference_mode()
    def __call__(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, lengths: Sequence[int]) -> torch.Tensor:
        """Logits ``[len(lengths), num_labels]`` of the pairs packed one after another in `input_ids`.

        Args:
            input_ids: 1-D token ids of all pairs, concatenated (no padding).
            token_type_ids: the segment ids, aligned with `input_ids`.
            lengths: each pair's token count, in order; they sum to ``len(input_ids)``.
        """
        return self.head(self.body(input_ids, token_type_ids, lengths, self.pooling))
