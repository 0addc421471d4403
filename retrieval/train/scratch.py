"""Models built from nothing but a tokenizer: random-weight BERTs and static embeddings.

These are *not* pretrained models. They serve plumbing tests, speed benchmarks of a given shape,
and the starting point of training from scratch (`python -m retrieval.train`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["MINILM_L6_SHAPE", "TINY_SHAPE", "bert_config", "random_bert_encoder", "static_encoder"]

# The shape of MiniLM-L6-H384 (6 layers, 384 wide, 12 heads, 1536 feed-forward), random weights.
MINILM_L6_SHAPE = {"num_hidden_layers": 6, "hidden_size": 384, "num_attention_heads": 12, "intermediate_size": 1536}
TINY_SHAPE = {"num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64}


def bert_config(tokenizer: Any, shape: dict[str, int], max_length: int, **extra: Any) -> Any:
    """A `transformers.BertConfig` of `shape` for `tokenizer`'s vocabulary (``extra``: more config fields)."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=max(512, max_length),
        pad_token_id=tokenizer.pad_token_id or 0,
        **shape,
        **extra,
    )


def random_bert_encoder(
    tokenizer_path: str | Path,
    out_dir: str | Path,
    shape: dict[str, int] | None = None,
    max_length: int = 256,
    pooling: str = "mean",
    seed: int = 0,
) -> Path:
    """Save a sentence-transformers model with a randomly initialised BERT of the given shape."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import AutoTokenizer, BertModel

    out_dir = Path(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_path))
    torch.manual_seed(seed)
    bert = BertModel(bert_config(tokenizer, shape or TINY_SHAPE, max_length))
    raw = out_dir / "_bert"
    bert.save_pretrained(raw)
    tokenizer.save_pretrained(raw)
    transformer = Transformer(str(raw), max_seq_length=max_length)
    model = SentenceTransformer(modules=[transformer, Pooling(bert.config.hidden_size, pooling)], device="cpu")
    model.save(str(out_dir))
    return out_dir


def static_encoder(tokenizer_path: str | Path, out_dir: str | Path, dim: int = 256, seed: int = 0) -> Path:
    """Save a StaticEmbedding model (a bag of token vectors) with random weights."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from tokenizers import Tokenizer

    torch.manual_seed(seed)
    tokenizer = Tokenizer.from_file(str(Path(tokenizer_path) / "tokenizer.json"))
    static = StaticEmbedding(tokenizer, embedding_dim=dim)
    model = SentenceTransformer(modules=[static], device="cpu")
    model.save(str(out_dir))
    return Path(out_dir)
