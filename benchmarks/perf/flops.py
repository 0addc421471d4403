"""The FLOPs of a BERT forward pass, counted from the tokens actually run.

Per layer, h = hidden size, f = feed-forward size, for a sequence of L tokens:
    dense     = 2 * L * (4*h*h + 2*h*f)     (Q, K, V, output projections; the two FFN matrices)
    attention = 2 * 2 * L * L * h           (QK^T and AV)
Embedding lookups, layer norms, GELU, softmax and the pooler are not counted (cheap, or not matmuls).

Example:
    >>> from types import SimpleNamespace
    >>> config = SimpleNamespace(hidden_size=2, intermediate_size=4, num_hidden_layers=1)
    >>> dense_flops(config, 3), attention_flops(config, np.array([3]))
    (192.0, 72.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["FlopCounter", "attention_flops", "dense_flops", "executed_dense_share"]


def dense_flops(config: Any, tokens: float) -> float:
    """FLOPs of every layer's linear maps over `tokens` tokens (a Hugging Face BERT config)."""
    h, f, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    return float(layers * 2 * tokens * (4 * h * h + 2 * h * f))


def attention_flops(config: Any, lengths: np.ndarray) -> float:
    """FLOPs of every layer's attention matmuls over sequences of these lengths."""
    h, layers = config.hidden_size, config.num_hidden_layers
    lengths = np.asarray(lengths, dtype=np.float64)
    return float(layers * 4 * (lengths**2).sum() * h)


def executed_dense_share(config: Any) -> float:
    """The share of the nominal dense FLOPs a packed forward runs when the last layer only projects K and V."""
    h, f, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    return round(((layers - 1) + 2 * h * h / (4 * h * h + 2 * h * f)) / layers, 4)


class FlopCounter:
    """Counts the FLOPs of every forward pass of a sentence-transformers Transformer module (a pre-hook).

    `dense` counts real tokens; `attn_padded` attention over the padded length as run, `attn_real`
    over each sequence's real length (no padding at all).
    """

    def __init__(self, transformer: Any) -> None:
        self.config = transformer.auto_model.config
        self.dense = self.attn_padded = self.attn_real = 0.0
        # The module, not the Hugging Face model: sentence-transformers calls `model.forward` directly.
        self._handle = transformer.register_forward_pre_hook(self._count)

    def _count(self, module: Any, args: Any) -> None:
        mask = args[0]["attention_mask"]
        batch, seq = mask.shape
        real = mask.sum(dim=1).cpu().numpy().astype(np.float64)
        self.dense += dense_flops(self.config, real.sum())
        self.attn_padded += attention_flops(self.config, np.full(batch, seq))
        self.attn_real += attention_flops(self.config, real)

    def reset(self) -> None:
        self.dense = self.attn_padded = self.attn_real = 0.0

    def close(self) -> None:
        self._handle.remove()
