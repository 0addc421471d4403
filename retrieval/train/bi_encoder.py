"""Train a stage-1 bi-encoder: fine-tune any sentence-transformers model, or train one from scratch.

Training uses `SentenceTransformerTrainer` with `MultipleNegativesRankingLoss` and the no-duplicates
batch sampler. Pairs come from the train qrels when there are any, and from the corpus itself
(title -> body, sentence -> rest of its document). Then, per mining round, the corpus is indexed
with the current model and each pair gets a hard negative from its top results, with a margin
against false negatives (`retrieval.train.mining`). Test queries are never read.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval.encoder import BULK_ENCODING
from retrieval.progress import quiet_progress
from retrieval.train.config import BiEncoderConfig

__all__ = [
    "BiEncoderResult", "MAIN_PART", "corpus_anchors", "initial_model", "join_static_models", "static_part",
    "train_bi_encoder",
]

# The part of an encoder ensemble (`BiEncoderConfig.vocab_sizes`) on the config's own tokenizer.
MAIN_PART = "main"


@dataclass(frozen=True)
class BiEncoderResult:
    """What training produced: the model folder, timings and what it was trained on."""

    path: Path
    seconds: float
    pairs: dict[str, int]
    loss_history: list[dict[str, float]] = field(default_factory=list)


def initial_model(config: BiEncoderConfig, texts: Sequence[str], work_dir: Path) -> Any:
    """The model training starts from: the given one, or a fresh one built from a tokenizer."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from tokenizers import Tokenizer

    from retrieval.encoder import load_sentence_transformer
    from retrieval.train.scratch import random_bert_encoder
    from retrieval.train.tokenizer import train_wordpiece

    if config.model is not None:
        from retrieval.pretrained import ensure_model

        return load_sentence_transformer(ensure_model(config.model), device="cpu")
    if config.tokenizer == "corpus":
        tokenizer_dir = train_wordpiece(
            texts, work_dir / "tokenizer", vocab_size=config.vocab_size, merge_inflections=config.merge_inflections
        )
    else:
        tokenizer_dir = Path(config.tokenizer)
        if not (tokenizer_dir / "tokenizer.json").exists():
            raise FileNotFoundError(f"{tokenizer_dir} holds no tokenizer.json; pass a tokenizer folder or 'corpus'")
    if config.architecture == "static":
        torch.manual_seed(config.seed)
        tokenizer = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
        static = StaticEmbedding(tokenizer, embedding_dim=config.dim)
        if config.static_init == "idf":
            _scale_by_idf(static, tokenizer, texts)
        return SentenceTransformer(modules=[static], device="cpu")
    path = random_bert_encoder(
        tokenizer_dir, work_dir / "init", shape=dict(config.shape), max_length=config.max_seq_length, seed=config.seed
    )
    return SentenceTransformer(str(path), device="cpu")


def _scale_by_idf(static: Any, tokenizer: Any, texts: Sequence[str]) -> None:
    """Scale each token vector by its corpus IDF over the mean IDF of the tokens the corpus uses.

    Mean pooling then weighs rare terms up and frequent ones down from the first step, as BM25 does.
    """
    import torch

    from retrieval.train.term_stats import corpus_term_stats

    idf, _ = corpus_term_stats(tokenizer, texts)
    seen = idf < idf.max()
    scale = idf / (idf[seen].mean() if seen.any() else idf.mean())
    with torch.no_grad():
        static.embedding.weight.mul_(torch.tensor(scale, dtype=static.embedding.weight.dtype)[:, None])


def fit_mnrl(model: Any, rows: dict[str, list[str]], epochs: int, config: BiEncoderConfig, work_dir: Path, show: bool) -> list:
    """Train `model` in place with MultipleNegativesRankingLoss on `rows` (columns by order: anchor,
    positive[, negative]); no-duplicate batches, `config`'s rate, warm-up and seed. Returns the logged losses.
    """
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from retrieval.train.hf_trainer import quiet_console, shared_arguments

    dataset = Dataset.from_dict(rows)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(work_dir / "trainer"),
        num_train_epochs=epochs,
        per_device_train_batch_size=min(config.batch_size, len(dataset)),
        learning_rate=config.lr,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a share of the steps (transformers v5)
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        seed=config.seed,
        data_seed=config.seed,
        save_strategy="no",
        logging_steps=max(1, len(dataset) // config.batch_size // 4),
        **({"bf16": True} if config.bf16 else {}),
        **shared_arguments(show),
    )
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=dataset, loss=MultipleNegativesRankingLoss(model)
    )
    quiet_console(trainer, show).train()
    return [
        {"epoch": float(r["epoch"]), "step": int(r["step"]), "loss": float(r["loss"])}
        for r in trainer.state.log_history
        if "loss" in r
    ]


def _train_member(
    docs: Sequence[Any], labelled: list, config: BiEncoderConfig, work_dir: Path, name: str, show: bool
) -> tuple[Any, dict[str, int], list[dict[str, float]]]:
    """One model: in-batch-negative epochs on the pairs, then the hard-negative mining rounds."""
    from transformers import set_seed

    from retrieval.encoder import Encoder, document_text
    from retrieval.indexing import build_index
    from retrieval.train.mining import mine_hard_negatives
    from retrieval.train.pairs import corpus_pairs

    work_dir.mkdir(parents=True, exist_ok=True)
    set_seed(config.seed)
    model = initial_model(config, [document_text(d) for d in docs], work_dir)
    if config.model is None and config.architecture == "transformer":
        model.max_seq_length = config.max_seq_length
    unlabelled = corpus_pairs(docs, config.sentences_per_doc, config.use_titles, seed=config.seed)
    pairs = labelled * config.label_repeats + unlabelled
    if len(pairs) < 2:
        raise ValueError("fewer than 2 training pairs: the corpus is too small (or has no titles or sentences)")
    counts = {"labelled": len(labelled), "corpus": len(unlabelled), "triplets": 0}

    history = fit_mnrl(
        model, {"anchor": [p.anchor for p in pairs], "positive": [p.positive for p in pairs]}, config.epochs,
        config, work_dir, show,
    )
    for round_ in range(config.mining_rounds):
        encoder = Encoder(model, name=f"{name}@round{round_}", batch_size=128, **BULK_ENCODING)
        index = build_index(docs, encoder, show_progress=show)
        triplets = mine_hard_negatives(
            pairs, encoder, index, depth=config.depth, skip_top=config.skip_top, margin=config.margin,
            num_negatives=config.num_negatives, seed=config.seed + round_,
        )
        counts["triplets"] += len(triplets)
        if len(triplets) < 2:
            continue
        rows = {"anchor": [t[0] for t in triplets], "positive": [t[1] for t in triplets], "negative": [t[2] for t in triplets]}
        history += fit_mnrl(model, rows, config.mining_epochs, config, work_dir, show)
    return model, counts, history


def _train_joined(
    docs: Sequence[Any], labelled: list, config: BiEncoderConfig, work_dir: Path, name: str, show: bool
) -> tuple[Any, dict[str, int], list[dict[str, Any]]]:
    """`config.members` models (seeds `seed`, `seed + 1`, ...) joined into one StaticEmbedding model."""
    from retrieval.encoder import document_text

    members = [
        _train_member(docs, labelled, config.replace(seed=config.seed + i), work_dir / f"member{i}", f"{name}#{i}", show)
        for i in range(config.members)
    ]
    model, counts, history = members[0]
    if len(members) > 1:
        model = join_static_models([m for m, _, _ in members], [document_text(d) for d in docs])
        history = [{**row, "member": i} for i, (_, _, h) in enumerate(members) for row in h]
        counts = {**counts, "triplets": sum(c["triplets"] for _, c, _ in members), "members": len(members)}
    return model, counts, history


def static_part(path: str | Path) -> Path:
    """The model of a `train_bi_encoder` folder that uses the config's own tokenizer.

    That is the folder itself, or its ``main`` part when `vocab_sizes` made it an encoder ensemble
    (what a reranker started from stage 1's token vectors must share its tokenizer with).
    """
    from retrieval.encoder_ensemble import is_ensemble

    return Path(path) / MAIN_PART if is_ensemble(path) else Path(path)


def corpus_anchors(docs: Sequence[Any], config: BiEncoderConfig) -> set[str]:
    """The anchors (title, sentence) of every corpus pair `train_bi_encoder` trains on with `config`.

    Each member draws its own sentences (its seed), so this is the union over the members: what
    stage 2 must not use as pseudo-queries, or stage 1 looks better on them than on new queries.
    """
    from retrieval.train.pairs import corpus_pairs

    return {
        p.anchor
        for i in range(config.members)
        for p in corpus_pairs(docs, config.sentences_per_doc, config.use_titles, seed=config.seed + i)
    }


def join_static_models(models: Sequence[Any], texts: Sequence[str]) -> Any:
    """One StaticEmbedding model whose token vectors are the members' vectors side by side.

    Each member is first scaled so its vectors of `texts` have unit mean length: the joined cosine
    then weighs the members alike and is close to the mean of their cosines (a seed ensemble that
    is still one ordinary sentence-transformers model with one index).
    """
    import numpy as np
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding

    blocks = []
    for model in models:
        static = model[0]
        if not isinstance(static, StaticEmbedding) or len(model) != 1:
            raise ValueError("join_static_models joins models made of one StaticEmbedding module only")
        vectors = model.encode(list(texts), batch_size=1024, convert_to_numpy=True, show_progress_bar=False)
        mean_length = float(np.linalg.norm(vectors, axis=1).mean()) or 1.0
        blocks.append(static.embedding.weight.detach().cpu().numpy() / mean_length)
    joined = StaticEmbedding(models[0][0].tokenizer, embedding_weights=np.hstack(blocks))
    return SentenceTransformer(modules=[joined], device="cpu")


def train_bi_encoder(
    corpus: Any,
    out_dir: str | Path,
    config: BiEncoderConfig = BiEncoderConfig(),
    train_queries: Mapping[str, str] | None = None,
    train_qrels: Mapping[str, Mapping[str, int]] | None = None,
    show_progress: bool = True,
) -> BiEncoderResult:
    """Train stage 1 and save it as an ordinary sentence-transformers folder (or, with
    `config.vocab_sizes`, an encoder ensemble of such folders, which `Encoder.load` opens).

    Args:
        corpus: anything `indexes.read_corpus` reads.
        out_dir: where the model goes (``SentenceTransformer(out_dir)`` loads it), with
            ``train_config.json`` and ``train_summary.json`` beside it.
        config: the recipe.
        train_queries, train_qrels: the labelled training split, if any (never the test queries).

    Example:
        >>> result = train_bi_encoder("scifact/", "models/st", BiEncoderConfig(epochs=1))  # doctest: +SKIP
        >>> SentenceTransformer(str(result.path))  # doctest: +SKIP
    """
    from indexes import read_corpus
    from retrieval.encoder import document_text
    from retrieval.encoder_ensemble import save_ensemble
    from retrieval.train.pairs import labelled_pairs
    from retrieval.train.tokenizer import train_wordpieces

    start = time.perf_counter()
    out_dir = Path(out_dir)
    work_dir = out_dir.parent / f".{out_dir.name}.work"
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    docs = read_corpus(corpus)
    labelled = []
    if config.use_labels and train_qrels:
        if train_queries is None:
            raise ValueError("train_qrels were given without train_queries")
        labelled = labelled_pairs(train_queries, train_qrels, docs)
    parts = {MAIN_PART: config}
    if config.vocab_sizes:
        tokenizers = train_wordpieces(
            [document_text(d) for d in docs], {n: work_dir / f"tokenizer-{n}" for n in config.vocab_sizes},
            merge_inflections=config.merge_inflections,
        )
        parts |= {f"vocab-{n}": config.replace(tokenizer=str(path), vocab_size=n, vocab_sizes=()) for n, path in tokenizers.items()}
    counts: dict[str, int] = {}
    history: list[dict[str, Any]] = []
    with quiet_progress(not show_progress):  # the libraries' own bars too (trainer start, saving)
        for part, part_config in parts.items():
            model, part_counts, part_history = _train_joined(
                docs, labelled, part_config, work_dir / part, f"{out_dir}#{part}", show_progress
            )
            counts = part_counts if not counts else {**counts, "triplets": counts["triplets"] + part_counts["triplets"]}
            history += [{**row, "part": part} for row in part_history] if len(parts) > 1 else part_history
            model.save(str(out_dir / part if len(parts) > 1 else out_dir))
    if len(parts) > 1:
        counts["members"] = config.members * len(parts)
        save_ensemble(out_dir, list(parts))
    seconds = time.perf_counter() - start
    config.save(out_dir / "train_config.json")
    summary = {"seconds": seconds, "pairs": counts, "loss_history": history, "documents": len(docs)}
    (out_dir / "train_summary.json").write_text(json.dumps(summary, indent=2))
    shutil.rmtree(work_dir, ignore_errors=True)
    return BiEncoderResult(out_dir, seconds, counts, history)
