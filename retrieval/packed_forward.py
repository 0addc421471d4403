"""A packed, padding-free inference forward for BERT bodies, shared by both stages.

`PackedBertBody(bert)(input_ids, token_type_ids, lengths, pooling)` runs a Hugging Face ``BertModel``
over sequences concatenated one after another (no padding) and returns one vector per sequence: the
last layer's [CLS] state (``pooling="cls"``) or the mean of its tokens (``"mean"``, as
sentence-transformers' ``Pooling("mean")``). It gives the model's own forward's values (fp32;
differences are float rounding, about 1e-7) with less work on a CPU:

- no padding: every linear layer runs on real tokens only, and attention runs per sequence with no
  mask;
- with ``"cls"``, the last layer computes only what is read: keys and values for every token, but
  queries, attention output, feed-forward and layer norms for the [CLS] token alone;
- fused kernels where PyTorch has them (oneDNN linear + bias + GELU, linear + bias + residual add),
  and one matrix product for the query, key and value projections.

With ``int8=True`` the linear layers run as int8 dynamic quantisation (weights per channel,
activations per batch; weights packed for oneDNN on CPUs with AMX tiles, for torch's default engine
elsewhere), a faster approximation whose ranking quality is to be checked.

It is a snapshot: the stacked QKV matrices (and int8 weights) are copies, so build it after the
weights (and their dtype) are final. `retrieval.encoder.Encoder` (``backend="packed"``) and
`rerank.packed_bert.PackedBert` (the cross-encoders' heads) run it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from retrieval.cpu import cpu_has_vnni, int8_engine, quantized_engine

__all__ = ["POOLINGS", "PackedBertBody", "bi_encoder_parts", "checked_bert"]

POOLINGS = ("cls", "mean")

_FUSED = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


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
            self.reduce_range = engine is None and not cpu_has_vnni()

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


def checked_bert(body: Any) -> str | None:
    """Why `body` is not a ``BertModel`` this forward reproduces, or None."""
    if type(body).__name__ != "BertModel":
        return f"its transformer is a {type(body).__name__}, not a BertModel"
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
    return None


def bi_encoder_parts(model: Any) -> tuple[Any, str, bool] | str:
    """(BertModel, pooling, normalises) of a SentenceTransformer made of Transformer (a ``BertModel``),
    Pooling (``"mean"`` or ``"cls"`` over every token) and optionally Normalize; else why not."""
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    parts = list(model)
    kinds = [type(p).__name__ for p in parts]
    if (
        len(parts) not in (2, 3)
        or not isinstance(parts[0], Transformer)
        or not isinstance(parts[1], Pooling)
        or (len(parts) == 3 and not isinstance(parts[2], Normalize))
    ):
        return f"its modules are {kinds}, not Transformer, Pooling and optionally Normalize"
    pooling = parts[1]
    if pooling.pooling_mode not in POOLINGS or not pooling.include_prompt:
        return f"its pooling is {pooling.pooling_mode!r}, the packed forward supports 'mean' or 'cls' over every token"
    body = getattr(parts[0], "auto_model", None)
    reason = checked_bert(body)
    return reason if reason is not None else (body, pooling.pooling_mode, len(parts) == 3)


def _norm(x: torch.Tensor, ln: Any) -> torch.Tensor:
    return F.layer_norm(x, ln.normalized_shape, ln.weight, ln.bias, ln.eps)


class PackedBertBody:
    """Padding-free inference for a ``BertModel``: one pooled vector per packed sequence.

    Args:
        bert: a Hugging Face ``BertModel`` (eval mode; dropout is not applied). `checked_bert` says
            whether it is supported.
        int8: run the linear layers with int8 dynamic quantisation.

    Example:
        >>> body = PackedBertBody(model.bert)  # doctest: +SKIP
        >>> body(ids, token_types, [12, 40], "mean").shape  # doctest: +SKIP
        torch.Size([2, 384])
    """

    def __init__(self, bert: Any, int8: bool = False) -> None:
        reason = checked_bert(bert)
        if reason is not None:
            raise ValueError(f"the packed forward cannot run this model: {reason}")
        self.bert = bert
        config = bert.config
        self.heads = config.num_attention_heads
        self.hidden = config.hidden_size
        self.head_dim = self.hidden // self.heads
        self.int8 = int8
        self.layers = [_Layer(layer, self.hidden, int8) for layer in bert.encoder.layer]

    def _embed(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, lengths: Sequence[int]) -> torch.Tensor:
        emb = self.bert.embeddings
        positions = torch.cat([torch.arange(n, device=input_ids.device) for n in lengths])
        x = emb.word_embeddings(input_ids) + emb.token_type_embeddings(token_type_ids)
        x = x + emb.position_embeddings(positions)
        return _norm(x, emb.LayerNorm)

    def _attention(
        self, q: torch.Tensor, kv: torch.Tensor, lengths: Sequence[int], q_rows: Sequence[int]
    ) -> torch.Tensor:
        """Per-sequence attention: `q` holds `q_rows[i]` rows of sequence i, `kv` its `lengths[i]` rows."""
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
    def __call__(
        self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, lengths: Sequence[int], pooling: str
    ) -> torch.Tensor:
        """``[len(lengths), hidden]``: each packed sequence's [CLS] state or token mean (`pooling`).

        Args:
            input_ids: 1-D token ids of all sequences, concatenated (no padding).
            token_type_ids: the segment ids, aligned with `input_ids`.
            lengths: each sequence's token count, in order; they sum to ``len(input_ids)``.
            pooling: ``"cls"`` or ``"mean"``.
        """
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        lengths = [int(n) for n in lengths]
        if sum(lengths) != input_ids.shape[0] or min(lengths, default=1) < 1:
            raise ValueError(f"lengths {lengths[:8]}... do not partition {input_ids.shape[0]} tokens")
        x = self._embed(input_ids, token_type_ids, lengths)
        d = self.hidden
        ones = [1] * len(lengths)
        starts = torch.tensor([0, *lengths[:-1]], device=x.device).cumsum(0)
        for i, layer in enumerate(self.layers):
            if i < len(self.layers) - 1 or pooling == "mean":
                qkv = layer.qkv(x)
                x = self._feed_forward(layer, self._attention(qkv[:, :d], qkv[:, d:], lengths, lengths), x)
            else:  # only [CLS] is read: its query, against every token's key and value
                kv = layer.kv(x)
                x = x.index_select(0, starts)
                q = layer.q(x)
                x = self._feed_forward(layer, self._attention(q, kv, lengths, ones), x)
        if pooling == "mean":  # every token of each sequence, as sentence-transformers' Pooling("mean")
            counts = torch.tensor(lengths, device=x.device)
            rows = torch.repeat_interleave(torch.arange(len(lengths), device=x.device), counts)
            x = torch.zeros(len(lengths), d, dtype=x.dtype, device=x.device).index_add_(0, rows, x)
            x = x / counts.unsqueeze(1).to(x.dtype)
        return x
