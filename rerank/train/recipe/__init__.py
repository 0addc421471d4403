"""The from-scratch recipe: both stages trained offline from a corpus (and train qrels when there are any).

Used by `python -m benchmarks.run` when no hub or cached model is available: train a tokenizer on
the corpus, train stage 1 (`retrieval.train`), index the corpus with it, train stage 2 on stage-1
candidates (`rerank.train`). The models are cached under ``cache_dir``, keyed by a hash of the
recipe and the data (corpus ids and text, train queries and qrels), so a second call with the
same inputs returns them without training. Test queries are never passed in.

Modules: `budget` (what to train), `presets` (the named budgets), `cache` (the key and the cached
folder), `steps` (the steps), `folds` and `vocabulary` (the steps' cross-fitting and per-vocabulary
rerankers), `run` (`scratch_models`, the steps in order).
"""

from rerank.train.recipe.budget import RecipeBudget, ScratchModels
from rerank.train.recipe.cache import RECIPE_VERSION, cache_key, data_fingerprint
from rerank.train.recipe.presets import DEFAULT, FAST, PRESETS
from rerank.train.recipe.run import scratch_models

__all__ = [
    "DEFAULT", "FAST", "PRESETS", "RECIPE_VERSION", "RecipeBudget", "ScratchModels", "cache_key", "data_fingerprint",
    "scratch_models",
]
