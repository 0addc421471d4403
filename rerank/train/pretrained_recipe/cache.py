"""Where the pretrained recipe's models are cached: one folder per hash of the base, the settings and the data.

The key hashes what can change the trained models: the base model's identity (a packaged model's
hub name and revision, recognised by its files' sha256; else the sha256 of its folder's files),
the settings the run uses (`PretrainedBudget.settings`), the seed and the data fingerprint
(`rerank.train.recipe.data_fingerprint`). A second run with the same inputs trains nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from rerank.train.pretrained_recipe.budget import PretrainedBudget, PretrainedModels

__all__ = ["PRETRAINED_RECIPE_VERSION", "cache_key", "cached_models", "folder_digest", "model_identity"]

# Bumped on purpose when the recipe's code changes what it trains from the same key.
PRETRAINED_RECIPE_VERSION = 2  # 2: the one-SE weight rule over the wide grid


def folder_digest(folder: str | Path) -> str:
    """sha256 over a folder's files (relative path and content), hidden files and folders left out.

    Example:
        >>> len(folder_digest("."))  # doctest: +SKIP
        64
    """
    root = Path(folder)
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        h.update(rel.as_posix().encode() + b"\x00")
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        h.update(b"\x01")
    return h.hexdigest()


def model_identity(path: str | Path) -> dict[str, str]:
    """What a model folder is: ``{"hub": name, "revision": rev}`` for a packaged model (by its files'
    sha256, `retrieval.pretrained.identify_model`), else ``{"sha256": folder_digest(path)}``."""
    from retrieval.pretrained import identify_model

    known = identify_model(path)
    if known is not None:
        return {"hub": known[0], "revision": known[1]}
    return {"sha256": folder_digest(path)}


def cache_key(budget: PretrainedBudget, labelled: bool, seed: int, base: dict[str, str], fingerprint: str) -> str:
    """The cache folder name of a recipe run: a hash of the base's identity, the settings used, seed and data.

    Example:
        >>> from rerank.train.pretrained_recipe.budget import FAST
        >>> cache_key(FAST, True, 0, {"hub": "m", "revision": "r"}, "d") == cache_key(FAST, True, 0, {"hub": "m", "revision": "r"}, "d")
        True
    """
    payload = {
        "v": PRETRAINED_RECIPE_VERSION,
        "base": dict(base),
        "labelled": labelled,
        "settings": budget.settings(labelled),
        "seed": seed,
        "data": fingerprint,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def cached_models(folder: Path, base_path: Path) -> PretrainedModels | None:
    """The models a finished run left in `folder` (its ``recipe.json`` written last), or None.

    Stage 1 is the folder's ``encoder`` when the run fine-tuned it, else the base at `base_path`;
    the reranker is the folder's ``reranker``, None when the run trained none.
    """
    done = folder / "recipe.json"
    if not done.exists():
        return None
    record: dict[str, Any] = json.loads(done.read_text())
    encoder = folder / "encoder" if record["recipe"]["stage1"] == "fine-tuned" else Path(base_path)
    reranker = None if record["recipe"].get("stage2") == "none" else folder / "reranker"
    if not (encoder / "modules.json").exists() or (reranker is not None and not (reranker / "calibration.json").exists()):
        return None
    return PretrainedModels(encoder, reranker, Path(base_path), record["train_seconds"], {**record["recipe"], "cached": True})
