"""An ensemble of stage-1 encoders behind one index: the weighted mean of their cosines.

Encoders that cannot join into one model (StaticEmbeddings over different vocabularies, each with
its own tokenizer) are combined here: each part's normalised embedding is scaled by the square
root of its share of the weights and the parts are placed side by side. The inner product of two
such vectors is the weighted mean of the parts' cosines, and one FAISS index searches it.

On disk an ensemble is a folder with ``encoder_ensemble.json`` (the parts' sub-folders and
weights) beside the parts, each an ordinary sentence-transformers folder that
``SentenceTransformer(path)`` loads. `retrieval.Encoder.load` opens either kind of folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.encoder_manifest import check_encoder, describe_encoder
from retrieval.ensemble_files import check_saved_parts, check_weights, write_ensemble
from retrieval.types import TextEncoder

__all__ = ["ENSEMBLE_FILE", "EncoderEnsemble", "is_ensemble", "save_ensemble"]

ENSEMBLE_FILE = "encoder_ensemble.json"


def is_ensemble(path: str | Path) -> bool:
    """Whether `path` is a folder that `save_ensemble` wrote."""
    return (Path(path) / ENSEMBLE_FILE).is_file()


def save_ensemble(out_dir: str | Path, parts: Sequence[str], weights: Sequence[float] | None = None) -> Path:
    """Describe the parts (sub-folders of `out_dir`, already saved there) as one ensemble encoder.

    Example:
        >>> save_ensemble("models/stage1", ["vocab-16000", "vocab-32000"])  # doctest: +SKIP
        >>> Encoder.load("models/stage1").dim  # doctest: +SKIP
        1024
    """
    out_dir = Path(out_dir)
    weights = [1.0] * len(parts) if weights is None else [float(w) for w in weights]
    check_saved_parts(out_dir, parts, weights, "modules.json", "sentence-transformers model")
    write_ensemble(out_dir / ENSEMBLE_FILE, parts, weights)
    return out_dir


class EncoderEnsemble:
    """Several encoders whose normalised embeddings are weighted and concatenated (a `TextEncoder`).

    Every part must compare by cosine (a normalising encoder) and use no prompts; the ensemble's
    metric is the inner product of unit vectors, i.e. cosine as well. Queries and documents go
    through every part.

    Args:
        parts: the encoders (`retrieval.Encoder`s, or anything with the `TextEncoder` interface).
        name: the folder recorded in the index manifest.
        weights: one positive weight per part (default: equal).

    Example:
        >>> ensemble = Encoder.load("models/stage1")  # a folder with encoder_ensemble.json  # doctest: +SKIP
        >>> ensemble.encode_queries(["statins lower mortality"]).shape  # doctest: +SKIP
        (1, 1536)
    """

    metric = "cosine"
    normalize = True
    query_prompt: str | None = None
    document_prompt: str | None = None
    revision: str | None = None
    model = None  # no single model: see `parts`

    def __init__(self, parts: Sequence[TextEncoder], name: str, weights: Sequence[float] | None = None) -> None:
        weights = [1.0] * len(parts) if weights is None else [float(w) for w in weights]
        check_weights(parts, weights)
        for part in parts:
            if part.metric != "cosine" or part.query_prompt or part.document_prompt:
                raise ValueError(
                    f"ensemble part {part.name!r} must compare by cosine and use no prompts "
                    f"(it has metric {part.metric!r}); ensembles average cosines"
                )
        self.parts = list(parts)
        self.weights = weights
        self._scales = [float(s) for s in np.sqrt(np.asarray(weights) / sum(weights))]
        self.name = str(name)
        self.batch_size = getattr(self.parts[0], "batch_size", None)
        self.dim = sum(p.dim for p in self.parts)

    def configured(self, batch_size: int, **options: Any) -> EncoderEnsemble:
        """The same parts with other batching (each part's `configured`)."""
        return EncoderEnsemble([p.configured(batch_size, **options) for p in self.parts], self.name, self.weights)

    def _joined(self, blocks: list[np.ndarray]) -> np.ndarray:
        return np.hstack([block * scale for block, scale in zip(blocks, self._scales)]).astype(np.float32, copy=False)

    def encode_queries(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """Embeddings of queries: every part's, scaled and side by side (a progress bar for the first part only)."""
        return self._joined([p.encode_queries(texts, show_progress and i == 0) for i, p in enumerate(self.parts)])

    def encode_documents(self, docs: Sequence[Any], show_progress: bool = True) -> np.ndarray:
        """Embeddings of documents: every part's, scaled and side by side."""
        return self._joined([p.encode_documents(docs, show_progress and i == 0) for i, p in enumerate(self.parts)])

    def info(self) -> dict[str, Any]:
        """What the manifest records about this ensemble, with a probe embedding to recognise it by."""
        return describe_encoder(self)

    def check(self, recorded: dict[str, Any]) -> None:
        """Raise EncoderMismatchError unless this ensemble is the one `recorded` describes."""
        check_encoder(self, recorded)
