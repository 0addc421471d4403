"""A packed, padding-free inference forward for BERT cross-encoders.

`PackedBert(model)(input_ids, token_type_ids, lengths)` gives the same logits as the model's own
forward (fp32; differences are float rounding, about 1e-7), with less work on a CPU. Two heads:
``BertForSequenceClassification`` (pooled [CLS], most cross-encoders), and a sentence-transformers
CrossEncoder of modules Transformer (a ``BertModel``), mean Pooling and a linear Dense writing
``scores`` (`rerank.train.initial.mean_pooling_cross_encoder`). It runs:

- no padding: the pairs of a batch are concatenated into one token matrix, so every linear layer
  runs on real tokens only, and attention runs per pair with no mask;
- with the [CLS] head, the last layer computes only what the classifier reads: keys and values for
  every token, but queries, attention output, feed-forward and layer norms for the [CLS] token alone
  (about a sixth of the encoder's work for a 6-layer model); the mean head reads every token;
- fused kernels where PyTorch has them (oneDNN linear + bias + GELU, linear + bias + residual add),
  and one matrix product for the query, key and value projections.

With ``int8=True`` the linear layers run as int8 dynamic quantisation (weights per channel,
activations per batch; weights packed for oneDNN on CPUs with AMX tiles, for torch's default
engine elsewhere), a faster approximation whose ranking quality is to be checked.

It is a snapshot: the stacked QKV matrices (and int8 weights) are copies, so build it after the
weights are final. Other models are refused by `supports`, and callers keep the model's own
forward for them.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from rerank.precision import int8_engine, quantized_engine

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
            engine = int8_engine()  # oneDNN on AMX CPUs: the int8 products run on the tiles
            with warnings.catch_warnings(), quantized_engine(engine):  # torch marks quantized tensors deprecated
                warnings.simplefilter("ignore", UserWarning)
                self.quantized = DynamicLinear.from_float(linear)._packed_params._packed_params
            # Full 8-bit activations where VNNI or AMX dot products cannot saturate (rankings stay closer to
            # fp32 than with torch's 7-bit default), 7 bits on CPUs without them.
            self.reduce_range = engine is None and not _has_vnni()

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


def _checked_bert(body: Any) -> tuple[Any] | str:
    """(body,) when its config is what the packed forward reproduces, else why not."""
    config = body.config
    positions = getattr(config, "position_embedding_type", "absolute") or "absolute"
    checks = {
        "hidden_act": (getattr(config, "hidden_act", None), "gelu"),
        "position_embedding_type": (positions, "absolute"),
        "is_decoder": (bool(getattr(config, "is_decoder", False)), False),
    }
    for key, (value, wanted) in checks.items():
        if value != wanted:
            return f"config.{key} is {value!r}, the packed forward supports {wanted!r}"
    if config.hidden_size % config.num_attention_heads:
        return "hidden_size is not a multiple of num_attention_heads"
    return (body,)


def _norm(x: torch.Tensor, ln: Any) -> torch.Tensor:
    return F.layer_norm(x, ln.normalized_shape, ln.weight, ln.bias, ln.eps)


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
    if type(body).__name__ != "BertModel":
        return f"its transformer is a {type(body).__name__}, not a BertModel"
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
        self.bert, self.head, self.pooling = found
        config = self.bert.config
        self.heads = config.num_attention_heads
        self.hidden = config.hidden_size
        self.head_dim = self.hidden // self.heads
        self.int8 = int8
        self.layers = [_Layer(layer, self.hidden, int8) for layer in self.bert.encoder.layer]

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
                checked = _checked_bert(body)
                return checked if isinstance(checked, str) else (body, linear, "mean")
            model = model.model
        config = getattr(model, "config", None)
        if type(model).__name__ != "BertForSequenceClassification" or config is None:
            return f"{type(model).__name__} is not a BertForSequenceClassification"
        if model.bert.pooler is None:
            return "the model has no pooler"
        checked = _checked_bert(model.bert)
        if isinstance(checked, str):
            return checked
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

    def _embed(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, lengths: Sequence[int]) -> torch.Tensor:
        emb = self.bert.embeddings
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
            if i < len(self.layers) - 1 or self.pooling == "mean":
                qkv = layer.qkv(x)
                x = self._feed_forward(layer, self._attention(qkv[:, :d], qkv[:, d:], lengths, lengths), x)
            else:  # only [CLS] reaches the classifier: its query, against every token's key and value
                kv = layer.kv(x)
                x = x.index_select(0, starts)
                q = layer.q(x)
                x = self._feed_forward(layer, self._attention(q, kv, lengths, ones), x)
        if self.pooling == "mean":  # every token of each pair, as sentence-transformers' Pooling("mean")
            counts = torch.tensor(lengths, device=x.device)
            pair = torch.repeat_interleave(torch.arange(len(lengths), device=x.device), counts)
            x = torch.zeros(len(lengths), d, dtype=x.dtype, device=x.device).index_add_(0, pair, x)
            x = x / counts.unsqueeze(1).to(x.dtype)
        return self.head(x)
