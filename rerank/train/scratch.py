"""Cross-encoders built from nothing but a tokenizer: random-weight BERT rerankers and K-NRM ones.

These are *not* pretrained models: their scores are noise until trained. They serve plumbing tests,
speed benchmarks of a given shape (`retrieval.train.scratch.MINILM_L6_SHAPE` is MiniLM-L6-H384's),
and the starting point of training from scratch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from retrieval.train.scratch import TINY_SHAPE, bert_config
from retrieval.train.term_stats import corpus_term_stats

__all__ = ["kernel_cross_encoder", "random_cross_encoder"]


def random_cross_encoder(
    tokenizer_path: str | Path,
    out_dir: str | Path,
    shape: dict[str, int] | None = None,
    num_labels: int = 1,
    max_length: int = 512,
    seed: int = 0,
    *,
    init_std: float | None = None,
) -> Path:
    """Save a sentence-transformers CrossEncoder with a randomly initialised BERT classifier.

    Args:
        tokenizer_path: a tokenizer folder (e.g. the shared ``bert-uncased-wordpiece``).
        out_dir: where to save the model (created).
        shape: BERT sizes (``num_hidden_layers``, ``hidden_size``, ...); `TINY_SHAPE` by default.
        num_labels: 1 (one logit, sigmoid) or 2 (two logits, softmax; class 1 is "relevant").
        max_length: the model's maximum input length in tokens (query and passage together).
        seed: the torch seed of the random weights.
        init_std: the standard deviation of the random weights; None keeps BERT's 0.02 (the right start
            for training). Near-identical inputs get near-identical scores at 0.02; a larger value
            (0.1 for MiniLM's shape) spreads the scores of an untrained model, for tests and benchmarks.

    Example:
        >>> path = random_cross_encoder("shared/tokenizers/bert-uncased-wordpiece", "/tmp/ce")  # doctest: +SKIP
        >>> CrossEncoderReranker.load(str(path)).activation  # doctest: +SKIP
        'sigmoid'
    """
    import torch
    from sentence_transformers import CrossEncoder
    from transformers import AutoTokenizer, BertForSequenceClassification

    if num_labels not in (1, 2):
        raise ValueError(f"num_labels must be 1 (sigmoid) or 2 (softmax), got {num_labels!r}")
    out_dir = Path(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_path))
    tokenizer.model_max_length = max_length
    torch.manual_seed(seed)
    extra = {"initializer_range": init_std} if init_std is not None else {}
    config = bert_config(tokenizer, shape or TINY_SHAPE, max_length, num_labels=num_labels, **extra)
    if num_labels == 2:
        config.id2label, config.label2id = {0: "irrelevant", 1: "relevant"}, {"irrelevant": 0, "relevant": 1}
    BertForSequenceClassification(config).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    # Reload through sentence-transformers and save again, so the folder carries its CrossEncoder config
    # with the activation its outputs are read with: sigmoid for one logit, softmax for two.
    activation = torch.nn.Sigmoid() if num_labels == 1 else torch.nn.Softmax(dim=-1)
    model = CrossEncoder(str(out_dir), device="cpu", max_length=max_length, activation_fn=activation)
    model.save(str(out_dir))
    return out_dir


def kernel_cross_encoder(
    tokenizer_path: str | Path,
    out_dir: str | Path,
    hidden_size: int = 256,
    num_labels: int = 1,
    max_length: int = 512,
    seed: int = 0,
    *,
    corpus_texts: Sequence[str] | None = None,
    static_model: str | Path | None = None,
) -> Path:
    """Save a `rerank.kernel_model` cross-encoder (K-NRM) built from a tokenizer; not pretrained.

    Args:
        tokenizer_path: a BERT-style tokenizer folder (pairs get token types 0 and 1).
        out_dir: where to save the model (created).
        hidden_size: token-vector width; the static model's width when `static_model` is given.
        num_labels: 1 (one logit, sigmoid) or 2 (two logits, softmax).
        max_length: the longest (query, passage) pair in tokens.
        seed: the torch seed of the random token vectors.
        corpus_texts: the corpus; its IDF initialises the query-term weights and its average length
            the length normalisation. Without it every term weighs the same and the length is 200.
        static_model: a trained StaticEmbedding model of the same tokenizer whose token vectors are
            copied in (stage 1 of the from-scratch recipe).

    Example:
        >>> path = kernel_cross_encoder("tok/", "/tmp/knrm", corpus_texts=["a cell", "a gene"])  # doctest: +SKIP
    """
    import torch
    from sentence_transformers import CrossEncoder, SentenceTransformer
    from transformers import AutoTokenizer

    from rerank.kernel_model import KernelMatchConfig, KernelMatchForSequenceClassification, register

    register()  # the folder is saved with its model file and reloaded through the Auto classes
    if num_labels not in (1, 2):
        raise ValueError(f"num_labels must be 1 (sigmoid) or 2 (softmax), got {num_labels!r}")
    out_dir = Path(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_path))
    tokenizer.model_max_length = max_length
    vectors = None
    if static_model is not None:
        vectors = SentenceTransformer(str(static_model), device="cpu")[0].embedding.weight.detach().clone()
        if vectors.shape[0] != len(tokenizer):
            raise ValueError(
                f"{static_model} has {vectors.shape[0]} token vectors, the tokenizer has {len(tokenizer)} tokens: "
                "initialise from a static model trained with the same tokenizer"
            )
        hidden_size = int(vectors.shape[1])
    idf, avg_length = (None, 200.0) if corpus_texts is None else corpus_term_stats(tokenizer, corpus_texts)
    torch.manual_seed(seed)
    config = KernelMatchConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, avg_doc_length=avg_length, num_labels=num_labels,
        special_token_ids=list(tokenizer.all_special_ids), pad_token_id=tokenizer.pad_token_id or 0,
        max_position_embeddings=max_length,
    )
    if num_labels == 2:
        config.id2label, config.label2id = {0: "irrelevant", 1: "relevant"}, {"irrelevant": 0, "relevant": 1}
    model = KernelMatchForSequenceClassification(config)
    with torch.no_grad():
        if vectors is not None:
            model.embeddings.weight.copy_(vectors)
        if idf is not None:
            # softplus(w) = idf, so the first forward weighs query terms by IDF.
            weights = torch.tensor(np.log(np.expm1(np.maximum(idf, 1e-4))), dtype=torch.float32)
            model.term_weights.weight.copy_(weights[:, None])
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    activation = torch.nn.Sigmoid() if num_labels == 1 else torch.nn.Softmax(dim=-1)
    CrossEncoder(str(out_dir), device="cpu", max_length=max_length, activation_fn=activation).save(str(out_dir))
    return out_dir
