"""The cross-encoder a training run starts from: a given model, or a fresh BERT or K-NRM one built from a tokenizer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rerank.train.config import CrossEncoderConfig

__all__ = ["copy_static_embeddings", "initial_cross_encoder", "mean_pooling_cross_encoder"]


def mean_pooling_cross_encoder(model: str | Path, num_labels: int = 1, max_length: int = 256) -> Any:
    """A CrossEncoder of `model`'s transformer body, the mean of the pair's token vectors, and a new linear head.

    sentence-transformers modules (Transformer, Pooling, Dense writing ``scores``), so it saves and loads as
    any CrossEncoder folder. The head is drawn from torch's current seed.
    """
    from sentence_transformers import CrossEncoder
    from sentence_transformers.base.modules import Dense, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    body = Transformer(str(model), transformer_task="feature-extraction", max_seq_length=max_length)
    width = body.get_embedding_dimension()
    head = Dense(width, num_labels, activation_function=None, module_input_name="sentence_embedding", module_output_name="scores")
    return CrossEncoder(modules=[body, Pooling(width, "mean"), head], device="cpu")


def copy_static_embeddings(model: Any, static_model_path: str | Path) -> int:
    """Initialise a CrossEncoder's word embeddings from a trained StaticEmbedding of the same tokenizer.

    Vectors are centred, projected on their top principal directions when wider than BERT (zero-padded
    when narrower) and rescaled to BERT's initial spread.
    Returns the number of token vectors copied.
    """
    import torch
    from sentence_transformers import SentenceTransformer

    static = SentenceTransformer(str(static_model_path), device="cpu")
    source = static[0].embedding.weight.detach()
    target = model.model.get_input_embeddings().weight
    if source.shape[0] != target.shape[0]:
        raise ValueError(
            f"{static_model_path} has {source.shape[0]} token vectors, the cross-encoder's vocabulary has "
            f"{target.shape[0]}: initialise from a static model trained with the same tokenizer"
        )
    width = min(source.shape[1], target.shape[1])
    centred = source - source.mean(dim=0, keepdim=True)
    if source.shape[1] > target.shape[1]:
        # Project on the top principal directions: keeps most of the similarity structure.
        _, _, v = torch.linalg.svd(centred, full_matrices=False)
        centred = centred @ v[:width].T
    init_std = float(getattr(model.model.config, "initializer_range", 0.02))
    scaled = centred[:, :width] / centred[:, :width].std().clamp_min(1e-12) * init_std
    with torch.no_grad():
        target.zero_()
        target[:, :width] = scaled
    return int(source.shape[0])


def initial_cross_encoder(
    config: CrossEncoderConfig, work_dir: str | Path, corpus_texts: Sequence[str] | None = None
) -> Any:
    """Load `config.model`, or build a seeded from-scratch model of `config.architecture` from `config.tokenizer`.

    `corpus_texts` gives a kernel model its corpus IDF and average passage length.
    """
    from sentence_transformers import CrossEncoder

    from rerank.kernel_model import register
    from rerank.train.scratch import kernel_cross_encoder, random_cross_encoder

    register()  # `config.model`, or the model built here, may be a K-NRM one
    if config.model is not None:
        from retrieval.pretrained import ensure_model

        if config.head == "mean":
            return mean_pooling_cross_encoder(ensure_model(config.model), config.num_labels, config.max_length)
        return CrossEncoder(ensure_model(config.model), num_labels=config.num_labels, max_length=config.max_length, device="cpu")
    if config.head != "cls":
        raise ValueError(f"head={config.head!r} fine-tunes a given model: set CrossEncoderConfig.model, or head='cls'")
    if not config.tokenizer:
        raise ValueError("training a cross-encoder from scratch needs a tokenizer folder (CrossEncoderConfig.tokenizer)")
    if not (Path(config.tokenizer) / "tokenizer.json").exists():
        raise FileNotFoundError(f"{config.tokenizer} holds no tokenizer.json; pass a Hugging Face tokenizer folder")
    if config.architecture == "kernel":
        path = kernel_cross_encoder(
            config.tokenizer, Path(work_dir) / "init", hidden_size=int(config.shape.get("hidden_size", 256)),
            num_labels=config.num_labels, max_length=config.max_length, seed=config.seed,
            corpus_texts=corpus_texts, static_model=config.init_embeddings,
        )
        model = CrossEncoder(str(path), device="cpu", max_length=config.max_length)
        model.model.get_input_embeddings().weight.requires_grad_(config.train_embeddings)
        return model
    path = random_cross_encoder(
        config.tokenizer, Path(work_dir) / "init", shape=dict(config.shape), num_labels=config.num_labels,
        max_length=config.max_length, seed=config.seed,
    )
    model = CrossEncoder(str(path), device="cpu", max_length=config.max_length)
    if config.init_embeddings:
        copy_static_embeddings(model, config.init_embeddings)
    model.model.get_input_embeddings().weight.requires_grad_(config.train_embeddings)
    return model
