"""Corpus embeddings cached by content: a second run with the same corpus and model encodes nothing.

`cached_index(docs, encoder, cache_dir)` returns the corpus indexed by `encoder`, read from
``<cache_dir>/<key>/`` (an ordinary index folder, `indexes.Index`) when an earlier run wrote it. The
key hashes the corpus (ids, titles, texts: `rerank.train.recipe.data_fingerprint`), the encoder's
weights (`retrieval.encoder_manifest.weights_fingerprint`) and what else shapes its vectors (width,
metric, prompts, sequence length), and the FAISS factory. A folder whose manifest does not match the
encoder (its probe embedding differs) is rebuilt.

    >>> index = cached_index(dataset.corpus, encoder, ".cache/benchmarks/embeddings")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["cached_index", "embedding_key"]


def embedding_key(docs: Sequence[Any], encoder: Any, factory: str = "Flat") -> str | None:
    """The cache key of `docs` embedded by `encoder`, or None when the encoder's weights cannot be fingerprinted."""
    from rerank.train.recipe.cache import data_fingerprint
    from retrieval.encoder_manifest import weights_fingerprint

    weights = weights_fingerprint(encoder)
    if weights is None:
        return None
    model = getattr(encoder, "model", None)
    described = {
        "data": data_fingerprint(docs, None, None),
        "weights": weights,
        "dim": encoder.dim,
        "metric": encoder.metric,
        "query_prompt": encoder.query_prompt,
        "document_prompt": encoder.document_prompt,
        "max_seq_length": getattr(model, "max_seq_length", None),
        "factory": factory,
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()[:20]


def cached_index(
    docs: Sequence[Any], encoder: Any, cache_dir: str | Path | None, factory: str = "Flat", show_progress: bool = True
) -> Any:
    """`docs` indexed by `encoder`, from the cache when there, else built and saved there.

    Args:
        docs: the corpus as `indexes.Document` objects.
        encoder: a `retrieval.Encoder` (or anything `retrieval.build_index` takes).
        cache_dir: the cache folder; None builds without caching.
        factory: the FAISS factory string.
    """
    from indexes import Index
    from indexes.errors import EncoderMismatchError, IndexFormatError
    from retrieval.indexing import build_index

    key = embedding_key(docs, encoder, factory) if cache_dir is not None else None
    if key is None:
        return build_index(docs, encoder, factory=factory, show_progress=show_progress)
    folder = Path(cache_dir) / key
    if (folder / "manifest.json").exists():
        try:
            index = Index.load(folder)
            encoder.check(index.manifest.encoder)
            return index
        except (EncoderMismatchError, IndexFormatError, OSError):
            shutil.rmtree(folder, ignore_errors=True)
    index = build_index(docs, encoder, factory=factory, show_progress=show_progress)
    index.save(folder)
    return index
