"""Cross-encoders built from nothing but a tokenizer: random-weight BERT rerankers.

These are *not* pretrained models: their scores are noise until trained. They serve plumbing tests,
speed benchmarks of a given shape (`retrieval.scratch.MINILM_L6_SHAPE` is MiniLM-L6-H384's), and
the starting point of training from scratch.
"""

from __future__ import annotations

from pathlib import Path

from retrieval.scratch import TINY_SHAPE, _bert_config

__all__ = ["random_cross_encoder"]


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
    config = _bert_config(tokenizer, shape or TINY_SHAPE, max_length, num_labels=num_labels, **extra)
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
