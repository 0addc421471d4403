"""Loading a cross-encoder: the packaged or local model, checked for a trained classifier head first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from retrieval.errors import ModelLoadError

__all__ = ["load_cross_encoder", "not_a_cross_encoder"]


def _model_file(path: str, filename: str, revision: str | None) -> Path | None:
    """A file of a local model folder, or of a hub model already in the local cache; None if neither."""
    folder = Path(path)
    if folder.is_dir():
        return folder / filename if (folder / filename).is_file() else None
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(path, filename, revision=revision)
    except (ImportError, ValueError, OSError):  # not a hub name (HFValidationError is a ValueError)
        return None
    return Path(found) if isinstance(found, str) else None


def _read_json(path: str, filename: str, revision: str | None) -> Any:
    file = _model_file(path, filename, revision)
    try:
        return json.loads(file.read_text(encoding="utf-8")) if file is not None else None
    except (OSError, ValueError):
        return None


def not_a_cross_encoder(path: str, revision: str | None = None) -> str | None:
    """Why the model at `path` has no trained classifier head to score pairs with, or None when it may have one.

    Read from its files before loading: a sentence-transformers bi-encoder (model type
    ``SentenceTransformer``, or a ``Pooling`` module) or a transformers model whose architectures
    hold no ``*ForSequenceClassification``. CrossEncoder would load either with a new, random head.
    """
    st_config = _read_json(path, "config_sentence_transformers.json", revision)
    model_type = st_config.get("model_type") if isinstance(st_config, dict) else None
    if model_type == "CrossEncoder":
        return None
    if model_type == "SentenceTransformer":
        return "bi-encoder: its config_sentence_transformers.json says model_type 'SentenceTransformer'"
    modules = _read_json(path, "modules.json", revision)
    modules = [m for m in modules if isinstance(m, dict)] if isinstance(modules, list) else []
    if any("Pooling" in str(m.get("type", "")) for m in modules):
        return "bi-encoder: its modules.json pools token embeddings into one vector (a Pooling module)"
    folder = next((str(m.get("path") or "") for m in modules if "Transformer" in str(m.get("type", ""))), "")
    config = _read_json(path, f"{folder}/config.json" if folder else "config.json", revision)
    architectures = config.get("architectures") if isinstance(config, dict) else None
    if isinstance(architectures, list) and architectures:
        if not any(str(a).endswith("ForSequenceClassification") for a in architectures):
            return f"base model: it has no classifier head (architectures {architectures})"
    return None


def load_cross_encoder(name: str, device: str | None, max_length: int | None, **kwargs: Any) -> Any:
    """Load a sentence-transformers CrossEncoder by hub name or path, refusing models with no trained classifier head."""
    from sentence_transformers import CrossEncoder

    from rerank.kernel_model import register
    from retrieval.pretrained import ensure_model, offline_hint

    register()  # a K-NRM folder (model type "kernel_match") loads like any classifier
    path = ensure_model(name)
    reason = not_a_cross_encoder(path, kwargs.get("revision"))
    if reason is not None:
        kind, why = reason.split(": ", 1)
        what = f"{name!r} is a bi-encoder ({why}), not a cross-encoder" if kind == "bi-encoder" else why
        raise ModelLoadError(
            f"cannot load cross-encoder {name!r}: {what}; loaded as a reranker it would score every pair with a "
            "randomly initialised classifier head. Pass a cross-encoder (a model with a *ForSequenceClassification "
            f"head), or train one from this model: `python -m rerank.train --model {name} --data ... --encoder ... "
            "--out ...`"
        )
    try:
        return CrossEncoder(path, device=device, max_length=max_length, **kwargs)
    except (OSError, ValueError) as exc:
        local = Path(name).exists()
        hint = (
            "the folder exists but is not a cross-encoder (no config.json with a classifier)"
            if local
            else "it is not a local folder, and the Hugging Face hub could not be reached or has no such model. "
            + offline_hint(name)
        )
        raise ModelLoadError(f"cannot load cross-encoder {name!r}: {hint}. ({type(exc).__name__}: {exc})") from exc
