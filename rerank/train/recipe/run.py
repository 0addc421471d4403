"""`scratch_models`: both stages trained offline from a corpus (and train qrels when there are any), cached."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from rerank.train.recipe import steps
from rerank.train.recipe.budget import RecipeBudget, ScratchModels
from rerank.train.recipe.cache import RECIPE_VERSION, cache_key, cached_models, data_fingerprint
from rerank.train.recipe.presets import DEFAULT

__all__ = ["scratch_models"]


def scratch_models(
    data_dir: Path,
    corpus: Any,
    train_queries: dict[str, str] | None,
    train_qrels: dict[str, dict[str, int]] | None,
    cache_dir: Path,
    seed: int = 0,
    budget: RecipeBudget = DEFAULT,
    show_progress: bool = True,
) -> ScratchModels:
    """Train (or reuse from the cache) a stage-1 encoder and a stage-2 reranker from scratch.

    Args:
        data_dir: the dataset folder (recorded only; the data comes from the other arguments).
        corpus: anything `indexes.read_corpus` reads.
        train_queries, train_qrels: the labelled training split, or None for corpus-only training.
            Never the test queries.
        cache_dir: where trained models are kept, one folder per recipe-and-data key.
        seed: the seed of both stages.
        budget: a preset (`rerank.train.recipe.PRESETS`: ``FAST`` for tests, ``DEFAULT`` for
            SciFact-sized corpora) or your own `RecipeBudget`.

    Example:
        >>> made = scratch_models(Path("scifact"), "scifact", None, None, Path(".cache/scratch"))  # doctest: +SKIP
        >>> CrossEncoderReranker.load(str(made.reranker_path))  # doctest: +SKIP
    """
    from indexes import read_corpus

    docs = read_corpus(corpus)
    labelled = bool(train_qrels)
    fingerprint = data_fingerprint(docs, train_queries if labelled else None, train_qrels if labelled else None)
    key = cache_key(budget, labelled, seed, fingerprint)
    folder = Path(cache_dir) / key
    found = cached_models(folder)
    if found is not None:
        return found
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)

    run = steps.RecipeRun(folder, docs, budget, seed, train_queries, train_qrels, show_progress)
    steps.train_tokenizer(run)
    steps.train_stage1(run)
    steps.cross_fit_stage1(run)
    steps.stage2_data(run)
    steps.cross_validate_weight(run)
    steps.train_stage2(run)
    steps.refit_stage1(run)
    return _record(run, key, fingerprint, data_dir)


def _record(run: steps.RecipeRun, key: str, fingerprint: str, data_dir: Path) -> ScratchModels:
    """Write ``recipe.json`` (last, so that a folder with one holds finished models) and return the models."""
    run.seconds["total"] = sum(run.seconds.values())
    recipe = {
        "key": key,
        "version": RECIPE_VERSION,
        "data_dir": str(data_dir),
        "data_fingerprint": fingerprint,
        "labels": "train qrels" if run.labelled else "none (corpus only)",
        "seed": run.seed,
        "budget": run.budget.to_dict()
        | {"bi_encoder": run.bi_config.to_dict(), "cross_encoder": run.ce_config.to_dict()},
        "stage1_pairs": run.stage1.pairs,
        "held_out_of_stage1": sorted(run.held),
        "stage1_refit_on_all_labels": run.refit,
        "stage2_rows": {"train": run.stage2.train_rows, "validation": run.stage2.validation_rows},
        "calibration": run.stage2.calibration,
    }
    folder = run.folder
    record = {"recipe": recipe, "train_seconds": run.seconds}
    (folder / "recipe.json").write_text(json.dumps(record, indent=2, default=str))
    return ScratchModels(folder / "encoder", folder / "reranker", run.seconds, {**recipe, "cached": False})
