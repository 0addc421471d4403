"""A packed, padding-free inference forward for BERT sequence classifiers (most cross-encoders).

`PackedBert(model)(input_ids, token_type_ids, lengths)` gives the same logits as
``BertForSequenceClassification(...).logits`` (fp32; differences are float rounding, about 1e-7),
with less work on a CPU:

- no padding: the pairs of a batch are concatenated into one token matrix, so every linear layer
  runs on real tokens only, and attention runs per pair with no mask;
- the last layer computes only what the classifier reads: keys and values for every token, but
  queries, attention output, feed-forward and layer norms for the [CLS] token alone
  (about a sixth of the encoder's work for a 6-layer model);
- fused kernels where PyTorch has them (oneDNN linear + bias + GELU, linear + bias + residual add),
  and one matrix product for the query, key and value projections.

With ``int8=True`` the linear layers run as int8 dynamic quantisation (weights per channel,
activations per batch), a faster approximation whose ranking quality is to be checked.

It is a snapshot: the stacked QKV matrices (and int8 weights) are copies, so build it after the
weights are final. Models that are not a plain BERT classifier are refused by `supports`, and
callers keep the model's own forward for them.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["PackedBert"]

_FUSED = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


@functools.lru_cache(maxsize=1)
def _has_vnni() -> bool:
    """True when the CPU has VNNI int8 dot products (no 16-bit saturation, so activations keep 8 bits)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            return any(line.startswith("flags") and "vnni" in line for line in handle)
    except OSError:
        return False


class _Dense:
    """``x @ W.T + b``: fp32 through oneDNN (bias, GELU, residual fused) where present, or int8 dynamic."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, int8: bool = False) -> None:
        self.weight, self.bias = weight.detach().contiguous(), bias.detach().contiguous()
        self.quantized = None
        if int8:
            from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
            from torch.ao.quantization import per_channel_dynamic_qconfig

            linear = torch.nn.Linear(weight.shape[1], weight.shape[0])
            linear.weight.data, linear.bias.data = self.weight.float(), self.bias.float()
            linear.qconfig = per_channel_dynamic_qconfig
            with warnings.catch_warnings():  # torch marks quantized tensor creation deprecated (2.13)
                warnings.simplefilter("ignore", UserWarning)
                self.quantized = DynamicLinear.from_float(linear)._packed_params._packed_params
            # Full 8-bit activations where VNNI dot products cannot saturate (rankings stay closer to fp32
            # than with torch's 7-bit default), 7 bits on CPUs without VNNI.
            self.reduce_range = not _has_vnni()

    def _fused(self, x: torch.Tensor) -> bool:
        return self.quantized is None and _FUSED and x.device.type == "cpu"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.quantized is not None:
            return torch.ops.quantized.linear_dynamic(x, self.quantized, reduce_range=self.reduce_range)
        if self._fused(x):
            return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "none", [], "")
        return F.linear(x, self.weight, self.bias)

    def gelu(self, x: torch.Tensor) -> torch.Tensor:
        if self._fused(x):
            return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "gelu", [], "none")  # erf GELU
        return F.gelu(self(x))

    def add(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        if self._fused(x):
            return torch.ops.mkldnn._linear_pointwise.binary(x, residual, self.weight, self.bias, "add")
        return self(x) + residual


class _Layer:
    """One encoder layer's weights, with Q, K and V stacked into one matrix (and K, V into another)."""

    def __init__(self, layer: Any, hidden: int, int8: bool) -> None:
        attn = layer.attention
        w = torch.cat([attn.self.query.weight, attn.self.key.weight, attn.self.value.weight])
        b = torch.cat([attn.self.query.bias, attn.self.key.bias, attn.self.value.bias])
        self.qkv = _Dense(w, b, int8)
        self.q = _Dense(w[:hidden], b[:hidden], int8)
        self.kv = _Dense(w[hidden:], b[hidden:], int8)
        self.out = _Dense(attn.output.dense.weight, attn.output.dense.bias, int8)
        self.ln1 = attn.output.LayerNorm
        self.up = _Dense(layer.intermediate.dense.weight, layer.intermediate.dense.bias, int8)
        self.down = _Dense(layer.output.dense.weight, layer.output.dense.bias, int8)
        self.ln2 = layer.output.LayerNorm


def _norm(x: torch.Tensor, ln: Any) -> torch.Tensor:
    return F.layer_norm(x, ln.normalized_shape, ln.weight, ln.bias, ln.eps)


class PackedBert:
    """Padding-free fp32 inference for a Hugging Face ``BertForSequenceClassification``.

    Args:
        model: the classifier (eval mode; dropout is not applied).
        int8: run the linear layers with int8 dynamic quantisation.

    Example:
        >>> packed = PackedBert(cross_encoder.model)  # doctest: +SKIP
        >>> packed(ids, token_types, [12, 40]).shape  # doctest: +SKIP
        torch.Size([2, 1])
    """

    def __init__(self, model: Any, int8: bool = False) -> None:
        reason = self.unsupported_reason(model)
        if reason:
            raise ValueError(f"PackedBert cannot run this model: {reason}")
        self.model = model
        config = model.config
        self.heads = config.num_attention_heads
        self.hidden = config.hidden_size
        self.head_dim = self.hidden // self.heads
        self.int8 = int8
        self.layers = [_Layer(layer, self.hidden, int8) for layer in model.bert.encoder.layer]

    @staticmethod
    def unsupported_reason(model: Any) -> str | None:
        """Why `model` is not a plain BERT classifier this forward reproduces, or None."""
        config = getattr(model, "config", None)
        if type(model).__name__ != "BertForSequenceClassification" or config is None:
            return f"{type(model).__name__} is not a BertForSequenceClassification"
        positions = getattr(config, "position_embedding_type", "absolute") or "absolute"
        checks = {
            "hidden_act": (getattr(config, "hidden_act", None), "gelu"),
            "position_embedding_type": (positions, "absolute"),
            "is_decoder": (bool(getattr(config, "is_decoder", False)), False),
        }
        for key, (value, wanted) in checks.items():
            if value != wanted:
                return f"config.{key} is {value!r}, the packed forward supports {wanted!r}"
        if model.bert.pooler is None:
            return "the model has no pooler"
        if config.hidden_size % config.num_attention_heads:
            return "hidden_size is not a multiple of num_attention_heads"
        return None

    @classmethod
    def supports(cls, model: Any) -> bool:
        """True when `model` can run through the packed forward."""
        return cls.unsupported_reason(model) is None

    def _embed(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, lengths: Sequence[int]) -> torch.Tensor:
        emb = self.model.bert.embeddings
        positions = torch.cat([torch.arange(n, device=input_ids.device) for n in lengths])
        x = emb.word_embeddings(input_ids) + emb.token_type_embeddings(token_type_ids)
        x = x + emb.position_embeddings(positions)
        return _norm(x, emb.LayerNorm)

    def _attention(
        self, q: torch.Tensor, kv: torch.Tensor, lengths: Sequence[int], q_rows: Sequence[int]
    ) -> torch.Tensor:
        """Per-pair attention: `q` holds `q_rows[i]` rows of pair i, `kv` its `lengths[i]` key/value rows."""
        h, dh = self.heads, self.head_dim
        out = torch.empty(q.shape[0], self.hidden, dtype=q.dtype, device=q.device)
        q_start = kv_start = 0
        for n, m in zip(lengths, q_rows):
            qi = q[q_start : q_start + m].view(m, h, dh).transpose(0, 1).unsqueeze(0)
            kvi = kv[kv_start : kv_start + n].view(n, 2, h, dh).permute(1, 2, 0, 3)
            o = F.scaled_dot_product_attention(qi, kvi[0].unsqueeze(0), kvi[1].unsqueeze(0))
            out[q_start : q_start + m] = o[0].transpose(0, 1).reshape(m, self.hidden)
            q_start, kv_start = q_start + m, kv_start + n
        return out

    def _feed_forward(self, layer: _Layer, attended: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        x = _norm(layer.out.add(attended, residual), layer.ln1)
        return _norm(layer.down.add(layer.up.gelu(x), x), layer.ln2)

    @torch.inference_mode()
    def __call__(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, lengths: Sequence[int]) -> torch.Tensor:
        """Logits ``[len(lengths), num_labels]`` of the pairs packed one after another in `input_ids`.

        Args:
            input_ids: 1-D token ids of all pairs, concatenated (no padding).
            token_type_ids: the segment ids, aligned with `input_ids`.
            lengths: each pair's token count, in order; they sum to ``len(input_ids)``.
        """
        lengths = [int(n) for n in lengths]
        if sum(lengths) != input_ids.shape[0] or min(lengths, default=1) < 1:
            raise ValueError(f"lengths {lengths[:8]}... do not partition {input_ids.shape[0]} tokens")
        x = self._embed(input_ids, token_type_ids, lengths)
        d = self.hidden
        ones = [1] * len(lengths)
        starts = torch.tensor([0, *lengths[:-1]], device=x.device).cumsum(0)
        for i, layer in enumerate(self.layers):
            if i < len(self.layers) - 1:
                qkv = layer.qkv(x)
                x = self._feed_forward(layer, self._attention(qkv[:, :d], qkv[:, d:], lengths, lengths), x)
            else:  # only [CLS] reaches the classifier: its query, against every token's key and value
                kv = layer.kv(x)
                x = x.index_select(0, starts)
                q = layer.q(x)
                x = self._feed_forward(layer, self._attention(q, kv, lengths, ones), x)
        pooled = self.model.bert.pooler.activation(self.model.bert.pooler.dense(x))
        return self.model.classifier(pooled)
