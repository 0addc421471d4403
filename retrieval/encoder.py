"""Stage-1 encoder: any sentence-transformers model, by hub name or local path."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from indexes import Document, EncoderMismatchError

__all__ = ["Encoder", "ModelLoadError", "document_text"]

PROBE_TEXT = "the quick brown fox checks which encoder built this index"
_SIMILARITY_TO_METRIC = {"cosine": "cosine", "dot": "ip", "euclidean": "l2", "manhattan": "l2"}
_FAST_PATH_MAX = 8


class ModelLoadError(RuntimeError):
    """A model that cannot be loaded (not found locally, and the hub not reachable)."""


def document_text(doc: Document | str) -> str:
    """The text a document is embedded as: title and body joined by a space (the BEIR convention)."""
    if isinstance(doc, str):
        return doc
    return f"{doc.title} {doc.text}".strip() if doc.title else doc.text


def _revision_of(path: str) -> str | None:
    match = re.search(r"snapshots/([0-9a-f]{40})", path)
    return match.group(1) if match else None


def load_sentence_transformer(name_or_path: str, device: str | None = None, **kwargs: Any) -> Any:
    """Load a SentenceTransformer, turning offline and not-found failures into one clear error."""
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(str(name_or_path), device=device, **kwargs)
    except (OSError, ValueError) as exc:
        local = Path(str(name_or_path)).exists()
        hint = (
            "the folder exists but is not a sentence-transformers model (no modules.json or config.json)"
            if local
            else "it is not a local folder, and the Hugging Face hub could not be reached or has no such model. "
            "Offline, pass the path of a saved model (for example one trained with `python -m retrieval.train`)"
        )
        raise ModelLoadError(f"cannot load encoder {name_or_path!r}: {hint}. ({type(exc).__name__}: {exc})") from exc


class Encoder:
    """Embeds queries and documents with a sentence-transformers model.

    Args:
        model: a loaded ``SentenceTransformer``.
        name: the hub name or path recorded in the index manifest.
        query_prompt, document_prompt: text prepended to queries / documents (e.g. ``"query: "``);
            by default the model's own ``query``/``document`` prompts when it defines them.
        batch_size: documents per forward pass when encoding a corpus.
        revision: the model revision, recorded in the manifest.

    Example:
        >>> encoder = Encoder.load("path/to/model")  # doctest: +SKIP
        >>> encoder.encode_queries(["what is faiss"]).shape  # doctest: +SKIP
        (1, 384)
    """

    def __init__(
        self,
        model: Any,
        name: str,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        batch_size: int = 64,
        revision: str | None = None,
    ) -> None:
        self.model = model.eval()
        self.name = str(name)
        prompts = getattr(model, "prompts", {}) or {}
        self.query_prompt = query_prompt if query_prompt is not None else prompts.get("query")
        self.document_prompt = document_prompt if document_prompt is not None else prompts.get("document")
        self.batch_size = batch_size
        self.revision = revision if revision is not None else _revision_of(self.name)
        similarity = getattr(model, "similarity_fn_name", None) or "cosine"
        self.metric = _SIMILARITY_TO_METRIC.get(similarity, "cosine")
        self.dim = int(model.get_embedding_dimension())
        self._lock = threading.Lock()  # fast tokenizers are not safe to share between threads

    @classmethod
    def load(
        cls,
        name_or_path: str | Path,
        device: str | None = None,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        batch_size: int = 64,
        revision: str | None = None,
    ) -> Encoder:
        """Load any sentence-transformers model by hub name or local path."""
        kwargs = {"revision": revision} if revision else {}
        model = load_sentence_transformer(str(name_or_path), device=device, **kwargs)
        return cls(model, str(name_or_path), query_prompt, document_prompt, batch_size, revision)

    @property
    def normalize(self) -> bool:
        return self.metric == "cosine"

    def _encode(self, texts: list[str], prompt: str | None, show_progress: bool) -> np.ndarray:
        with self._lock:
            if len(texts) <= _FAST_PATH_MAX:
                return self._encode_small(texts, prompt)
            return self.model.encode(
                texts,
                prompt=prompt,
                batch_size=self.batch_size,
                show_progress_bar=show_progress,
                convert_to_numpy=True,
                normalize_embeddings=self.normalize,
            ).astype(np.float32, copy=False)

    @torch.inference_mode()
    def _encode_small(self, texts: list[str], prompt: str | None) -> np.ndarray:
        # One forward pass without encode()'s sorting and bookkeeping: most of a single query's time.
        features = self.model.preprocess(texts, prompt=prompt)
        features = {k: v.to(self.model.device) if hasattr(v, "to") else v for k, v in features.items()}
        embeddings = self.model(features)["sentence_embedding"]
        if self.normalize:
            embeddings = torch.nn.functional.normalize(embeddings, p=2, dim=1)
        return embeddings.float().cpu().numpy()

    def encode_queries(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """Embeddings of queries, float32, one row each."""
        return self._encode(list(texts), self.query_prompt, show_progress)

    def encode_documents(self, docs: Sequence[Document | str], show_progress: bool = True) -> np.ndarray:
        """Embeddings of documents (title and text), float32, one row each."""
        return self._encode([document_text(d) for d in docs], self.document_prompt, show_progress)

    def info(self) -> dict[str, Any]:
        """What the manifest records about this encoder, with a probe embedding to recognise it by."""
        probe = self.encode_documents([PROBE_TEXT], show_progress=False)[0]
        return {
            "name": self.name,
            "revision": self.revision,
            "dim": self.dim,
            "metric": self.metric,
            "query_prompt": self.query_prompt,
            "document_prompt": self.document_prompt,
            "probe": [round(float(x), 6) for x in probe],
        }

    def check(self, recorded: dict[str, Any]) -> None:
        """Raise EncoderMismatchError unless this encoder is the one `recorded` describes."""
        if not recorded:
            return
        name = recorded.get("name")
        if recorded.get("dim") != self.dim:
            raise EncoderMismatchError(
                f"the index was built with encoder {name!r} ({recorded.get('dim')}-d); {self.name!r} gives "
                f"{self.dim}-d vectors. Search it with the encoder it was built with, or rebuild the index."
            )
        for key in ("query_prompt", "document_prompt"):
            if recorded.get(key) != getattr(self, key):
                raise EncoderMismatchError(
                    f"the index was built with {key}={recorded.get(key)!r}, this encoder uses "
                    f"{getattr(self, key)!r}; pass the same prompts or rebuild the index."
                )
        stored = np.asarray(recorded.get("probe") or [], dtype=np.float32)
        if stored.size:
            now = self.encode_documents([PROBE_TEXT], show_progress=False)[0]
            cos = float(now @ stored / max(np.linalg.norm(now) * np.linalg.norm(stored), 1e-12))
            if cos < 0.999:
                raise EncoderMismatchError(
                    f"encoder {self.name!r} does not produce the embeddings of {name!r} (revision "
                    f"{recorded.get('revision')}) that built this index (probe cosine {cos:.4f}). "
                    "Load the index with its own encoder, or rebuild it with this one."
                )
