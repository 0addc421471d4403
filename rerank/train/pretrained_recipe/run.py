"""`pretrained_models`: both stages fine-tuned from a pretrained bi-encoder, cached by content."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from rerank.train.pretrained_recipe import steps
from rerank.train.pretrained_recipe.budget import DEFAULT, PretrainedBudget, PretrainedModels
from rerank.train.pretrained_recipe.cache import PRETRAINED_RECIPE_VERSION, cache_key, cached_models, model_identity

__all__ = ["cached_pretrained_models", "pretrained_models"]


def pretrained_models(
    base: str,
    corpus: Any,
    train_queries: dict[str, str] | None,
    train_qrels: dict[str, dict[str, int]] | None,
    cache_dir: Path,
    seed: int = 0,
    budget: PretrainedBudget = DEFAULT,
    show_progress: bool = True,
    index_for: steps.IndexFor | None = None,
) -> PretrainedModels:
    """Fine-tune (or reuse from the cache) a stage-1 encoder and a stage-2 cross-encoder from `base`.

    With labels, stage 1 is `base` fine-tuned on them and stage 2 a cross-encoder on `base`'s body,
    trained on that stage 1's candidates; without labels, stage 1 is `base` as it is and, by default,
    no stage 2 is trained (`reranker_path` is None; a budget with a `corpus_cross_encoder` trains one
    on pseudo-queries from the corpus). The reranker's stage-1 weight is fitted to that stage 1: use
    the two together.

    Args:
        base: a sentence-transformers model folder or a hub name (`retrieval.pretrained.ensure_model`
            serves a packaged one offline, verified).
        corpus: anything `indexes.read_corpus` reads.
        train_queries, train_qrels: the labelled training split, or None for corpus-only training.
            Never the test queries.
        cache_dir: where trained models are kept, one folder per `cache_key`.
        seed: the seed of both stages.
        budget: a preset (`PRESETS`: ``DEFAULT`` for SciFact-sized corpora on a CPU, ``FAST`` for tests).
        index_for: ``index_for(docs, encoder) -> Index``; `retrieval.build_index` by default.

    Raises:
        retrieval.ModelLoadError: `base` cannot be had (e.g. `PackageNotInstalledError`).

    Example:
        >>> made = pretrained_models("sentence-transformers/all-MiniLM-L6-v2", "scifact", q, qrels, Path(".cache/p"))  # doctest: +SKIP
        >>> Searcher(index, Encoder.load(str(made.encoder_path)), CrossEncoderReranker.load(str(made.reranker_path)))  # doctest: +SKIP
    """
    from retrieval.indexing import build_index

    base_path, docs, folder, fingerprint, identity = _locate(
        base, corpus, train_queries, train_qrels, cache_dir, seed, budget
    )
    key = folder.name
    found = cached_models(folder, base_path)
    if found is not None:
        return found
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)

    if index_for is None:
        def index_for(docs: Any, encoder: Any) -> Any:
            return build_index(docs, encoder, show_progress=show_progress)

    run = steps.PretrainedRun(
        folder, docs, budget, seed, str(base), base_path, train_queries, train_qrels, show_progress, index_for
    )
    steps.zero_shot_index(run)
    steps.train_stage1(run)
    steps.stage2_data(run)
    steps.train_stage2(run)
    return _record(run, key, fingerprint, identity)


def cached_pretrained_models(
    base: str,
    corpus: Any,
    train_queries: dict[str, str] | None,
    train_qrels: dict[str, dict[str, int]] | None,
    cache_dir: Path,
    seed: int = 0,
    budget: PretrainedBudget = DEFAULT,
) -> PretrainedModels | None:
    """The models `pretrained_models` would return from its cache for these arguments, or None; never trains.

    None also when `base` cannot be had (not installed, not a folder). Used by the speed benchmarks to
    time the cross-encoder a main job (`python -m benchmarks.run scifact`) has already trained.
    """
    from retrieval.errors import ModelLoadError

    try:
        base_path, _, folder, _, _ = _locate(base, corpus, train_queries, train_qrels, cache_dir, seed, budget)
    except ModelLoadError:
        return None
    return cached_models(folder, base_path)


def _locate(
    base: str, corpus: Any, train_queries: Any, train_qrels: Any, cache_dir: Path, seed: int,
    budget: PretrainedBudget,
) -> tuple[Path, list[Any], Path, str, dict[str, str]]:
    """(the base's verified folder, the documents, the run's cache folder, its data fingerprint, the
    base's identity). Raises `retrieval.ModelLoadError` when the base cannot be had as a local folder."""
    from indexes import read_corpus
    from rerank.train.recipe.cache import data_fingerprint
    from retrieval.errors import ModelLoadError
    from retrieval.pretrained import ensure_model, offline_hint

    base_path = Path(ensure_model(base))
    if not base_path.is_dir():
        raise ModelLoadError(f"cannot fine-tune {base!r}: it is not a local model folder. {offline_hint(base)}")
    docs = read_corpus(corpus)
    labelled = bool(train_qrels)
    identity = model_identity(base_path)
    fingerprint = data_fingerprint(docs, train_queries if labelled else None, train_qrels if labelled else None)
    folder = Path(cache_dir) / cache_key(budget, labelled, seed, identity, fingerprint)
    return base_path, docs, folder, fingerprint, identity


def _record(run: steps.PretrainedRun, key: str, fingerprint: str, identity: dict[str, str]) -> PretrainedModels:
    """Write ``recipe.json`` (last, so that a folder with one holds finished models) and return the models."""
    run.seconds["total"] = sum(run.seconds.values())
    recipe = {
        "key": key,
        "version": PRETRAINED_RECIPE_VERSION,
        "base": {"name": run.base, **identity},
        "data_fingerprint": fingerprint,
        "labels": "train qrels" if run.labelled else "none (corpus only)",
        "seed": run.seed,
        "budget": run.budget.name,
        "settings": run.budget.settings(run.labelled),
        "stage1": "fine-tuned" if run.labelled else "base",
        "stage1_pairs": run.stage1_pairs,
        "held_out_of_stage1": sorted(run.held),
        "stage2": "fine-tuned" if run.stage2 is not None else "none",
        "stage2_rows": None if run.stage2 is None else {"train": run.stage2.train_rows, "validation": run.stage2.validation_rows},
        "calibration": None if run.stage2 is None else run.stage2.calibration,
    }
    record = {"recipe": recipe, "train_seconds": run.seconds}
    (run.folder / "recipe.json").write_text(json.dumps(record, indent=2, default=str))
    reranker = None if run.stage2 is None else run.folder / "reranker"
    return PretrainedModels(run.stage1_path, reranker, run.base_path, run.seconds, {**recipe, "cached": False})
