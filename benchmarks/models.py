"""Which encoder and reranker a run uses: given, from the hub, fine-tuned from a pretrained model, or from scratch.

For each model a run needs, in order:
1. the one given (``--encoder`` / ``--reranker``: a hub name or a local path);
2. the configured hub name (``hub_encoder`` / ``hub_reranker``): a packaged model's verified copy
   (`retrieval.pretrained.ensure_model`), the local Hugging Face cache, or the hub when it answers
   within 2 seconds;
3. a recipe that trains both stages together, on the dataset's training split (never its test
   split), cached under ``cache_dir``: the pretrained recipe
   (`rerank.train.pretrained_recipe.pretrained_models`) when the hub encoder can be had, else the
   from-scratch recipe (`rerank.train.recipe.scratch_models`).

A reranker trained by a recipe fuses the scores of the stage 1 it was trained with (its
``calibration.json``), so a recipe always supplies both models: when the reranker must come from a
recipe, so does the encoder, and a given encoder without a reranker is refused
(`MissingModelError`) rather than paired with a reranker fitted to another stage 1. The pretrained
recipe without labels trains no reranker (`ModelChoice.reranker` is None): the run then scores no
``dense+rerank`` stage and says why.

Beside them, ``pretrained`` is the hub encoder as it is (zero-shot), which the ``dense-pretrained``
stage scores. When nothing applies, `MissingModelError` says what is missing and how to supply it.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmarks.hub import cached_model_path, hub_reachable

__all__ = [
    "FROM_SCRATCH", "MissingModelError", "ModelChoice", "PRETRAINED_FINE_TUNED", "load_reranker", "model_name",
    "resolve_models",
]

# What `ModelChoice.path` says when a recipe trained the models.
PRETRAINED_FINE_TUNED = "pretrained (fine-tuned)"
FROM_SCRATCH = "from scratch"


class MissingModelError(RuntimeError):
    """A stage needs a model that cannot be found, downloaded or trained here."""


@dataclass(frozen=True)
class ModelChoice:
    """The models of a run and where they came from.

    `encoder`/`reranker` are what to load (a hub name or a local path); `pretrained` the hub
    encoder as it is (for the ``dense-pretrained`` stage), None when it cannot be had; `names` what
    to call each role (a hub name for a model recognised as a packaged one). `origin` maps each role
    to ``"given"``, ``"hub"``, ``"hub cache"``, ``"packaged"``, ``"pretrained (fine-tuned)"``,
    ``"pretrained (zero-shot)"`` or ``"scratch"``. `path` says how the run's models were had:
    ``"pretrained (fine-tuned)"`` or ``"from scratch"`` when a recipe trained them, else
    ``"given"``/``"hub"``; `train_seconds` and `recipe` are the recipe's, and `fallback` says why the
    pretrained recipe was not used when the scratch one was.
    """

    encoder: str | None = None
    reranker: str | None = None
    origin: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    train_seconds: dict[str, float] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)
    path: str = ""
    pretrained: str | None = None
    fallback: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder,
            "reranker": self.reranker,
            "pretrained": self.pretrained,
            "path": self.path,
            "origin": dict(self.origin),
            "names": dict(self.names),
            "train_seconds": dict(self.train_seconds),
            "recipe": dict(self.recipe),
            "fallback": self.fallback,
        }


def model_name(name_or_path: str) -> str:
    """The hub name of a folder holding a packaged model's files (by sha256), else `name_or_path`.

    Example:
        >>> model_name("no/such/folder")
        'no/such/folder'
    """
    from retrieval.pretrained import identify_model

    known = identify_model(name_or_path) if Path(name_or_path).is_dir() else None
    return known[0] if known else name_or_path


def _from_hub(name: str) -> tuple[str, str] | None:
    """(what to load, origin) for a hub name, or None when it cannot be had here.

    Raises `retrieval.ModelLoadError` (e.g. `PackageNotInstalledError`) for a packaged model whose
    verified copy cannot be had.
    """
    from retrieval.pretrained import ensure_model

    if Path(name).exists():
        return name, "given"
    served = ensure_model(name)
    if served != name:
        return served, "packaged"
    cached = cached_model_path(name)
    if cached:
        return cached, "hub cache"
    if hub_reachable():
        return name, "hub"
    return None


def _pretrained_base(name: str) -> tuple[tuple[str, str] | None, str]:
    """The hub encoder as `_from_hub` finds it, or (None, why not)."""
    from retrieval.errors import ModelLoadError

    try:
        found = _from_hub(name)
    except ModelLoadError as exc:  # PackageNotInstalledError, ModelFileError, ...
        return None, f"{type(exc).__name__}: {exc}"
    if found is None:
        return None, f"{name!r} is neither packaged, nor in the local Hugging Face cache, nor reachable on the hub"
    return found, ""


def _missing(config: Any, reason: str) -> MissingModelError:
    return MissingModelError(
        f"no models for the dense stages: {reason}. Pass --encoder PATH and --reranker PATH (saved "
        f"sentence-transformers models), install the pretrained {config.hub_encoder!r} "
        '(`pip install -c constraints.txt -e ".[models]"`), run online, or score BM25 alone with --stages bm25.'
    )


def _budget(presets: dict[str, Any], config: Any) -> Any:
    budget = presets.get(str(config.scratch_budget))
    if budget is None:
        raise ValueError(f"unknown scratch_budget {config.scratch_budget!r}; the recipes offer {sorted(presets)}")
    return budget


def _scratch(config: Any, dataset: Any, show_progress: bool = True) -> Any:
    try:
        from rerank.train.recipe import PRESETS, scratch_models
    except ImportError as exc:
        raise _missing(
            config,
            f"--encoder/--reranker were not given, {config.hub_encoder!r} / {config.hub_reranker!r} cannot be had here, "
            f"and the from-scratch recipe `rerank.train.recipe.scratch_models` is not available ({type(exc).__name__}: {exc})",
        ) from exc
    return scratch_models(
        data_dir=Path(config.data_dir),
        corpus=dataset.corpus,
        train_queries=dataset.train_queries,
        train_qrels=dataset.train_qrels,
        cache_dir=Path(config.cache_dir) / "scratch" / dataset.name,
        seed=config.seed,
        budget=_budget(PRESETS, config),
        show_progress=show_progress,
    )


def _fine_tuned(config: Any, dataset: Any, base: tuple[str, str], show_progress: bool = True) -> Any:
    from benchmarks.embeddings import cached_index
    from rerank.train.pretrained_recipe import PRESETS, pretrained_models

    embeddings = Path(config.cache_dir) / "embeddings"

    def index_for(docs: Any, encoder: Any) -> Any:
        return cached_index(docs, encoder, embeddings, show_progress=show_progress)

    return pretrained_models(
        base[0] if base[1] == "given" else config.hub_encoder,  # a hub name loads offline (ensure_model)
        dataset.corpus,
        dataset.train_queries,
        dataset.train_qrels,
        Path(config.cache_dir) / "pretrained" / dataset.name,
        seed=config.seed,
        budget=_budget(PRESETS, config),
        show_progress=show_progress,
        index_for=index_for,
    )


def _recipe(config: Any, dataset: Any, base: tuple[str, str] | None, why_not: str, show_progress: bool) -> ModelChoice:
    """Both models from a recipe: fine-tuned from the pretrained `base` when there is one, else from scratch."""
    from retrieval.errors import ModelLoadError

    started = time.perf_counter()
    fallback = why_not
    if base is not None:
        try:
            made = _fine_tuned(config, dataset, base, show_progress)
        except ModelLoadError as exc:
            fallback = f"{type(exc).__name__}: {exc}"
            print(f"[benchmarks] the pretrained recipe cannot run ({fallback}); training from scratch", file=sys.stderr)
        else:
            labelled = made.recipe.get("stage1") == "fine-tuned"
            encoder = str(made.encoder_path)
            reranker = None if made.reranker_path is None else str(made.reranker_path)  # None: corpus only
            trained = {"reranker": PRETRAINED_FINE_TUNED} if reranker else {}
            return ModelChoice(
                encoder,
                reranker,
                origin={"encoder": PRETRAINED_FINE_TUNED if labelled else "pretrained (zero-shot)", **trained},
                names={"encoder": encoder if labelled else config.hub_encoder, **({"reranker": reranker} if reranker else {})},
                train_seconds=_seconds(made, started),
                recipe=dict(made.recipe),
                path=PRETRAINED_FINE_TUNED,
            )
    made = _scratch(config, dataset, show_progress)
    encoder, reranker = str(made.encoder_path), str(made.reranker_path)
    return ModelChoice(
        encoder,
        reranker,
        origin={"encoder": "scratch", "reranker": "scratch"},
        names={"encoder": encoder, "reranker": reranker},
        train_seconds=_seconds(made, started),
        recipe=dict(getattr(made, "recipe", {}) or {}),
        path=FROM_SCRATCH,
        fallback=fallback,
    )


def _seconds(made: Any, started: float) -> dict[str, float]:
    seconds = {k: float(v) for k, v in dict(getattr(made, "train_seconds", {}) or {}).items()}
    seconds.setdefault("total", round(time.perf_counter() - started, 3))
    return seconds


def resolve_models(
    config: Any,
    dataset: Any,
    need_encoder: bool | None = None,
    need_reranker: bool | None = None,
    show_progress: bool = True,
    need_pretrained: bool | None = None,
) -> ModelChoice:
    """Pick the models a run needs (by default `config.needs_encoder`, `config.needs_reranker` and
    `config.needs_pretrained`).

    `need_encoder=False` with `need_reranker=True` means the caller has its own encoder: the
    reranker must then be given or from the hub (a recipe's is fitted to the recipe's stage 1).
    """
    needed = {
        "encoder": config.needs_encoder if need_encoder is None else need_encoder,
        "reranker": config.needs_reranker if need_reranker is None else need_reranker,
    }
    pretrained_needed = getattr(config, "needs_pretrained", False) if need_pretrained is None else need_pretrained
    base, why_not = None, ""
    if pretrained_needed or (needed["encoder"] and not config.encoder):
        base, why_not = _pretrained_base(config.hub_encoder)
    chosen: dict[str, str] = {}
    origin: dict[str, str] = {}
    names: dict[str, str] = {}
    for role in ("encoder", "reranker"):
        given = getattr(config, role)
        if needed[role] and given:
            chosen[role], origin[role], names[role] = str(given), "given", model_name(str(given))
    if needed["reranker"] and "reranker" not in chosen:
        found = _from_hub(config.hub_reranker)
        if found:
            (chosen["reranker"], origin["reranker"]), names["reranker"] = found, config.hub_reranker
    choice = ModelChoice()
    if needed["reranker"] and "reranker" not in chosen:
        if config.encoder or not needed["encoder"]:
            raise MissingModelError(
                f"no reranker for the dense+rerank stage: --reranker was not given and {config.hub_reranker!r} cannot be "
                "had here. A reranker trained here fuses the scores of the stage 1 it was trained with, so it is "
                "never paired with another encoder: pass --reranker PATH, leave --encoder out (both stages are then "
                "trained together), or drop dense+rerank from --stages."
            )
        choice = _recipe(config, dataset, base, why_not, show_progress)  # both models, trained together
        chosen = {"encoder": choice.encoder, **({"reranker": choice.reranker} if choice.reranker else {})}
        origin, names = choice.origin, choice.names
    elif needed["encoder"] and "encoder" not in chosen:
        if base is not None:
            (chosen["encoder"], origin["encoder"]), names["encoder"] = base, config.hub_encoder
        else:
            choice = _recipe(config, dataset, None, why_not, show_progress)  # its encoder only
            chosen["encoder"], origin["encoder"], names["encoder"] = choice.encoder, "scratch", choice.encoder
    pretrained = base[0] if base is not None and pretrained_needed else None
    if pretrained:
        names = {**names, "pretrained": config.hub_encoder}
    path = choice.path or ("given" if "given" in origin.values() else "hub" if origin else "")
    return replace(
        choice, encoder=chosen.get("encoder"), reranker=chosen.get("reranker"), origin=origin, names=names, path=path,
        pretrained=pretrained,
    )


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
