"""An ensemble of stage-1 encoders behind one index: the weighted mean of their cosines.

StaticEmbeddings trained on
the same corpus pairs but over vocabularies of 8,000, 16,000 and 32,000 pieces, their cosines
averaged, rank better than more seeds of one vocabulary (on SciFact, corpus only; the figures are
in ``benchmarks/RESULTS.md``). The parts cannot join into one
StaticEmbedding (each has its own tokenizer), so each part's normalised embedding is scaled by
the square root of its share of the weights and the parts are placed side by side: the inner
product of two such vectors is the weighted mean of the parts' cosines, and one FAISS index
searches it.

On disk an ensemble is a folder with ``encoder_ensemble.json`` (the parts' sub-folders and
weights) beside the parts, each an ordinary sentence-transformers folder that
``SentenceTransformer(path)`` loads. `Encoder.load` opens either kind of folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.encoder import Encoder

__all__ = [
    "ENSEMBLE_FILE", "EncoderEnsemble", "check_saved_parts", "check_weights", "is_ensemble", "save_ensemble", "write_json_atomic",
]

ENSEMBLE_FILE = "encoder_ensemble.json"
FORMAT_VERSION = 1


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
    write_json_atomic(out_dir / ENSEMBLE_FILE, {"format_version": FORMAT_VERSION, "parts": list(parts), "weights": weights})
    return out_dir


def check_saved_parts(out_dir: Path, parts: Sequence[str], weights: Sequence[float], marker: str, what: str) -> None:
    """Refuse an ensemble description whose parts are not saved sub-folders of `out_dir` (each with
    `marker`, a saved `what`), or whose weights are not one positive number per part."""
    check_weights(parts, weights)
    for part in parts:
        if Path(part).is_absolute() or ".." in Path(part).parts:
            raise ValueError(f"ensemble part {part!r} must be a sub-folder name of {out_dir}")
        if not (out_dir / part / marker).is_file():
            raise FileNotFoundError(f"{out_dir / part} is not a saved {what} (no {marker})")


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write `payload` as JSON beside `path`, then rename it over `path` (a reader never sees half a file)."""
    temporary = path.parent / f".{path.name}.tmp"
    temporary.write_text(json.dumps(payload, indent=2))
    os.replace(temporary, path)


def check_weights(parts: Sequence[Any], weights: Sequence[float]) -> None:
    """Refuse an empty ensemble, or weights that are not one positive finite number per part."""
    if not parts:
        raise ValueError("an ensemble needs at least one part")
    if len(weights) != len(parts):
        raise ValueError(f"{len(parts)} parts but {len(weights)} weights; give one weight per part")
    if any(not np.isfinite(w) or w <= 0 for w in weights):
        raise ValueError(f"ensemble weights must be positive and finite, got {list(weights)}")


class EncoderEnsemble(Encoder):
    """Several `Encoder`s whose normalised embeddings are weighted and concatenated.

    Every part must compare by cosine (a normalising encoder); the ensemble's metric is the inner
    product of unit vectors, i.e. cosine as well. Queries and documents go through every part.

    Args:
        parts: the encoders, each loaded on its own.
        name: the folder recorded in the index manifest.
        weights: one positive weight per part (default: equal).

    Example:
        >>> ensemble = Encoder.load("models/stage1")  # a folder with encoder_ensemble.json  # doctest: +SKIP
        >>> ensemble.encode_queries(["statins lower mortality"]).shape  # doctest: +SKIP
        (1, 1536)
    """

    def __init__(self, parts: Sequence[Encoder], name: str, weights: Sequence[float] | None = None) -> None:
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
        scale = np.sqrt(np.asarray(weights) / sum(weights))
        self._scales = [float(s) for s in scale]
        self.model = None  # no single model: see `parts`
        self.name = str(name)
        self.query_prompt = self.document_prompt = None
        self.batch_size = self.parts[0].batch_size
        self.revision = None
        self.metric = "cosine"
        self.dim = sum(p.dim for p in self.parts)

    @classmethod
    def load(cls, name_or_path: str | Path, device: str | None = None, query_prompt: str | None = None,
             document_prompt: str | None = None, batch_size: int = 64, revision: str | None = None,
             **options: Any) -> EncoderEnsemble:
        """Open a folder written by `save_ensemble`; `options` go to every part (`Encoder`'s tuning)."""
        if query_prompt or document_prompt or revision:
            raise ValueError("an encoder ensemble takes no prompts or revision (its parts are local folders)")
        folder = Path(name_or_path)
        spec = json.loads((folder / ENSEMBLE_FILE).read_text())
        if spec.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{folder / ENSEMBLE_FILE}: unknown format_version {spec.get('format_version')!r}")
        parts = [Encoder.load(folder / part, device=device, batch_size=batch_size, **options) for part in spec["parts"]]
        return cls(parts, str(name_or_path), spec["weights"])

    def configured(self, batch_size: int, **options: Any) -> EncoderEnsemble:
        return EncoderEnsemble([p.configured(batch_size, **options) for p in self.parts], self.name, self.weights)

    def _encode(self, texts: list[str], prompt: str | None, show_progress: bool) -> np.ndarray:
        blocks = [
            part._encode(texts, prompt, show_progress and i == 0) * scale
            for i, (part, scale) in enumerate(zip(self.parts, self._scales))
        ]
        return np.hstack(blocks).astype(np.float32, copy=False)
