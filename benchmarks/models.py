"""Which encoder and reranker a run uses: given, from the hub, or trained from scratch.

For each model a run needs, in order:
1. the one given (``--encoder`` / ``--reranker``: a hub name or a local path);
2. the configured hub name (``hub_encoder`` / ``hub_reranker``), when it is in the local Hugging
   Face cache or the hub answers within 2 seconds;
3. the from-scratch recipe ``rerank.train.recipe.scratch_models``, trained on the dataset's training
   split (never its test split), cached under ``cache_dir``.
When none applies, `MissingModelError` says what is missing and how to supply it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.hub import cached_model_path, hub_reachable

__all__ = ["MissingModelError", "ModelChoice", "load_reranker", "resolve_models"]


class MissingModelError(RuntimeError):
    """A stage needs a model that cannot be found, downloaded or trained here."""


@dataclass(frozen=True)
class ModelChoice:
    """The models of a run and where they came from.

    `encoder`/`reranker` are what to load (a hub name or a local path); `names` what to call
    them (the hub name of a model loaded from the local cache). `origin` maps each role to
    ``"given"``, ``"hub"``, ``"hub cache"`` or ``"scratch"``; `train_seconds` and `recipe` are the
    from-scratch recipe's, when it ran.
    """

    encoder: str | None = None
    reranker: str | None = None
    origin: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    train_seconds: dict[str, float] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder,
            "reranker": self.reranker,
            "origin": dict(self.origin),
            "names": dict(self.names),
            "train_seconds": dict(self.train_seconds),
            "recipe": dict(self.recipe),
        }


def _from_hub(name: str) -> tuple[str, str] | None:
    if Path(name).exists():
        return name, "given"
    cached = cached_model_path(name)
    if cached:
        return cached, "hub cache"
    if hub_reachable():
        return name, "hub"
    return None


def _scratch(config: Any, dataset: Any, show_progress: bool = True) -> Any:
    try:
        from rerank.train.recipe import PRESETS, scratch_models
    except ImportError as exc:
        raise MissingModelError(
            "no models for the dense stages: --encoder/--reranker were not given, "
            f"{config.hub_encoder!r} / {config.hub_reranker!r} are not in the local Hugging Face cache and the hub "
            f"cannot be reached, and the from-scratch recipe `rerank.train.recipe.scratch_models` is not available "
            f"({type(exc).__name__}: {exc}). Pass --encoder PATH and --reranker PATH (saved sentence-transformers "
            "models), run online, or score BM25 alone with --stages bm25."
        ) from exc
    budget = PRESETS.get(str(config.scratch_budget))
    if budget is None:
        raise ValueError(f"unknown scratch_budget {config.scratch_budget!r}; rerank.train.recipe offers {sorted(PRESETS)}")
    started = time.perf_counter()
    made = scratch_models(
        data_dir=Path(config.data_dir),
        corpus=dataset.corpus,
        train_queries=dataset.train_queries,
        train_qrels=dataset.train_qrels,
        cache_dir=Path(config.cache_dir) / "scratch" / dataset.name,
        seed=config.seed,
        budget=budget,
        show_progress=show_progress,
    )
    return made, time.perf_counter() - started


def resolve_models(
    config: Any,
    dataset: Any,
    need_encoder: bool | None = None,
    need_reranker: bool | None = None,
    show_progress: bool = True,
) -> ModelChoice:
    """Pick the models a run needs (by default `config.needs_encoder` / `config.needs_reranker`)."""
    chosen: dict[str, str | None] = {"encoder": None, "reranker": None}
    origin: dict[str, str] = {}
    names: dict[str, str] = {}
    needed = {
        "encoder": config.needs_encoder if need_encoder is None else need_encoder,
        "reranker": config.needs_reranker if need_reranker is None else need_reranker,
    }
    for role in ("encoder", "reranker"):
        if not needed[role]:
            continue
        given = getattr(config, role)
        if given:
            chosen[role], origin[role], names[role] = str(given), "given", str(given)
            continue
        hub_name = getattr(config, f"hub_{role}")
        found = _from_hub(hub_name)
        if found:
            (chosen[role], origin[role]), names[role] = found, hub_name
    missing = [role for role in chosen if needed[role] and chosen[role] is None]
    if missing:
        # A reranker calibrated on one stage 1's scores must come with that stage 1: when the recipe trains,
        # both needed roles take its models, except the ones given on the command line.
        missing = [role for role in chosen if needed[role] and origin.get(role) != "given"]
    if not missing:
        return ModelChoice(chosen["encoder"], chosen["reranker"], origin, names)
    made, seconds = _scratch(config, dataset, show_progress)
    for role in missing:
        chosen[role] = names[role] = str(getattr(made, f"{role}_path"))
        origin[role] = "scratch"
    train_seconds = {k: float(v) for k, v in dict(getattr(made, "train_seconds", {}) or {}).items()}
    if "total" not in train_seconds:
        train_seconds["total"] = round(seconds, 3)
    recipe = dict(getattr(made, "recipe", {}) or {})
    return ModelChoice(chosen["encoder"], chosen["reranker"], origin, names, train_seconds, recipe)


def load_reranker(name_or_path: str, **kwargs: Any) -> Any:
    """Load a cross-encoder reranker through the registered ``cross-encoder`` backend."""
    from retrieval.plugins import load_reranker as load

    try:
        return load(name_or_path, **kwargs)
    except ImportError as exc:
        raise MissingModelError(
            f"cannot load reranker {name_or_path!r}: the cross-encoder backend is not importable "
            f"({type(exc).__name__}: {exc}); it lives in rerank/cross_encoder.py (reinstall with `pip install -e .`)"
        ) from exc
