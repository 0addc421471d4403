"""Encode documents into an index: build, extend, load with the matching encoder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from indexes import Document, Index, read_corpus, validate_documents
from indexes.sharded import ShardedIndex, load_any_index
from retrieval.encoder import Encoder
from retrieval.types import TextEncoder

__all__ = ["add_documents", "build_index", "load_index"]

_TRAIN_SAMPLE = 100_000


def build_index(
    corpus: Any,
    encoder: TextEncoder,
    factory: str = "Flat",
    metric: str | None = None,
    use_gpu: bool | None = None,
    show_progress: bool = True,
) -> Index:
    """Embed a corpus and index it.

    Args:
        corpus: anything `indexes.read_corpus` reads (BEIR folder, .jsonl, Dataset, records).
        encoder: the stage-1 encoder.
        factory: FAISS factory string; types that need training are trained on the corpus vectors.
        metric: ``"cosine"``, ``"ip"`` or ``"l2"``; by default the encoder's own similarity.

    Example:
        >>> index = build_index("scifact/", Encoder.load("my-model"), factory="HNSW32")  # doctest: +SKIP
    """
    docs = read_corpus(corpus)
    metric = metric or encoder.metric
    index = Index.create(encoder.dim, factory, metric, encoder=encoder.info(), use_gpu=use_gpu)
    vectors = encoder.encode_documents(docs, show_progress=show_progress)
    if not index.vectors.is_trained:
        index.vectors.train(index.prepare_vectors(vectors[:_TRAIN_SAMPLE]))
    index.add(docs, vectors)
    return index


def add_documents(index: Index, encoder: TextEncoder, documents: Sequence[Any], show_progress: bool = True) -> int:
    """Embed and add new documents to an existing index without a rebuild; returns how many."""
    encoder.check(index.manifest.encoder)
    docs: list[Document] = validate_documents(documents, existing_ids=index.docs.doc_ids)
    index.add(docs, encoder.encode_documents(docs, show_progress=show_progress))
    return len(docs)


def load_index(
    path: str | Path,
    encoder: TextEncoder | str | Path | None = None,
    use_gpu: bool | None = None,
    backend: str = "auto",
    **shard_options: Any,
) -> tuple[Index | ShardedIndex, TextEncoder]:
    """Load an index and its encoder (the one named in the manifest unless given), checked to match.

    A directory with ``shards.json`` loads as an `indexes.sharded.ShardedIndex`; `shard_options`
    (``ray``, ``search_params``, ...) go to its `load` and are refused for a single index.
    `backend` is where an encoder loaded here runs (`retrieval.encoder.BACKENDS`).
    """
    index = load_any_index(path, use_gpu=use_gpu, **shard_options)
    recorded = index.manifest.encoder
    if encoder is None:
        encoder = recorded.get("name")
        if not encoder:
            raise ValueError(f"{path}: the manifest names no encoder; pass one")
    if isinstance(encoder, (str, Path)):
        encoder = Encoder.load(
            encoder,
            query_prompt=recorded.get("query_prompt"),
            document_prompt=recorded.get("document_prompt"),
            revision=recorded.get("revision"),
            backend=backend,
            precision=recorded.get("precision", "fp32"),
        )
    encoder.check(recorded)
    return index, encoder
