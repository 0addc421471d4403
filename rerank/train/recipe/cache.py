"""Where the recipe's models are cached: one folder per hash of the recipe a run uses and its data.

A second run with the same recipe, seed and data finds the folder and trains nothing. The key is
pinned by a test: a change that moves it makes every user's cached models train again, so it is
made on purpose (a new `RECIPE_VERSION`), never as a side effect of a new or removed config field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from rerank.train.recipe.budget import RecipeBudget, ScratchModels

__all__ = ["RECIPE_VERSION", "cache_key", "cached_models", "data_fingerprint"]

RECIPE_VERSION = 9
# Config fields left out of the key at these values (the values that train as the recipe did
# before the field existed), so adding an option does not move the key of a recipe that leaves it off.
_KEY_SILENT_DEFAULTS = {
    "bi_encoder": {"vocab_sizes": (), "bf16": False},
    "cross_encoder": {"embedding_learning_rate": None, "stage1_offset": 0.0, "fuse_sentences": False, "weight_rule": "best", "head": "cls"},
}
# Fields the configs no longer have, at the one value every run had: written into the key as before,
# so removing an option does not move the key either.
_KEY_REMOVED_FIELDS = {"cross_encoder": {"tuned_table": False}}


def data_fingerprint(
    docs: Any, train_queries: Mapping[str, str] | None, train_qrels: Mapping[str, Mapping[str, int]] | None
) -> str:
    """A hash of the corpus (ids, titles, texts) and the labelled training split."""
    h = hashlib.sha256()
    for d in docs:
        for part in (d.doc_id, d.title, d.text):
            h.update(part.encode("utf-8"))
            h.update(b"\x00")
    h.update(b"\x01queries")
    for qid in sorted(train_queries or {}):
        h.update(f"{qid}\x00{train_queries[qid]}\x00".encode())
    h.update(b"\x01qrels")
    for qid in sorted(train_qrels or {}):
        for doc_id, rel in sorted(train_qrels[qid].items()):
            h.update(f"{qid}\x00{doc_id}\x00{rel}\x00".encode())
    return h.hexdigest()


def cache_key(budget: RecipeBudget, labelled: bool, seed: int, fingerprint: str) -> str:
    """The cache folder name of a recipe run: a hash of what can change the trained models.

    Fields a run does not use leave the key alone: with labels, `corpus_bi_encoder` and
    `corpus_cross_encoder`; without them, `bi_encoder` and `cross_encoder` where a corpus recipe is
    set, and `refit_stage1`; `residual_folds` and `cross_validate_weight` unless a labelled run
    trains a residual reranker; `reranker_per_vocabulary` with labels. So do options at the value
    that trains as before they existed (`_KEY_SILENT_DEFAULTS`).
    """
    used = replace(
        budget, bi_encoder=budget.stage1(labelled), corpus_bi_encoder=None,
        cross_encoder=budget.stage2(labelled), corpus_cross_encoder=None,
        refit_stage1=labelled and budget.refit_stage1,
    )
    described = used.to_dict()
    del described["corpus_cross_encoder"]  # folded into "cross_encoder" above
    if not (labelled and used.cross_encoder.stage1_offset):
        del described["residual_folds"]  # only a labelled residual reranker cross-fits stage 1
        del described["cross_validate_weight"]
    elif not used.cross_validate_weight:
        del described["cross_validate_weight"]  # off trains as without the option
    if labelled or not used.reranker_per_vocabulary:
        del described["reranker_per_vocabulary"]  # only used without labels, and off trains as without it
    for part, silent in _KEY_SILENT_DEFAULTS.items():
        for name, value in silent.items():
            if name in described[part] and described[part][name] == value:
                del described[part][name]
    for part, removed in _KEY_REMOVED_FIELDS.items():
        described[part].update(removed)
    payload = json.dumps({"v": RECIPE_VERSION, "budget": described, "seed": seed, "data": fingerprint}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def cached_models(folder: Path) -> ScratchModels | None:
    """The models a finished run left in `folder` (its ``recipe.json`` written last), or None."""
    from rerank.reranker_ensemble import is_reranker_ensemble
    from retrieval.encoder_ensemble import is_ensemble

    done = folder / "recipe.json"
    if not done.exists():
        return None
    record = json.loads(done.read_text())
    enc, rer = folder / "encoder", folder / "reranker"
    encoder_saved = (enc / "modules.json").exists() or is_ensemble(enc)
    reranker_saved = (rer / "config.json").exists() or is_reranker_ensemble(rer)
    if not (encoder_saved and reranker_saved):
        return None
    return ScratchModels(enc, rer, record["train_seconds"], {**record["recipe"], "cached": True})
