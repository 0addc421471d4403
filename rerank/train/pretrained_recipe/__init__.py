"""The pretrained recipe: both stages fine-tuned from a pretrained bi-encoder, offline, on a CPU budget.

Used by `python -m benchmarks.run` when a pretrained bi-encoder is installed (the packaged
all-MiniLM-L6-v2) and no reranker is given or in the cache. With labels: stage 1 is the base
fine-tuned with MultipleNegativesRankingLoss and hard negatives from its own zero-shot index;
stage 2 is a cross-encoder on the base's body (a new one-logit head on the mean of the pair's
tokens) trained with BCE on that stage 1's candidates, its stage-1 weight chosen on queries stage 1
never trained on. Without labels stage 1 stays the base and no cross-encoder is trained (one trained
on pseudo-queries from the corpus fell below the zero-shot stage 1;
`PretrainedBudget.corpus_cross_encoder`). The models
are cached under ``cache_dir`` by a hash of the base's identity, the settings, the seed and the data.

Modules: `budget` (settings, presets, the result), `cache` (the key and the cached folder),
`steps` (the steps), `fit` (stage 1's training loop), `run` (`pretrained_models`, the steps in order).
"""

from rerank.train.pretrained_recipe.budget import DEFAULT, FAST, PRESETS, PretrainedBudget, PretrainedModels
from rerank.train.pretrained_recipe.cache import PRETRAINED_RECIPE_VERSION, cache_key, folder_digest, model_identity
from rerank.train.pretrained_recipe.run import cached_pretrained_models, pretrained_models

__all__ = [
    "DEFAULT", "FAST", "PRESETS", "PRETRAINED_RECIPE_VERSION", "PretrainedBudget", "PretrainedModels", "cache_key",
    "cached_pretrained_models", "folder_digest", "model_identity", "pretrained_models",
]
