"""The models the speed benchmarks time by default: the packaged all-MiniLM-L6-v2, else its shape with random weights.

Speed depends on the shape only, so the fallback times the same work; the report says which was used.
Stage 2 times the cross-encoder the main job fine-tuned from MiniLM (`python -m benchmarks.run scifact`,
seed 0, found in the benchmark cache without training), else the MiniLM body with a new one-logit head
(the same shape, untrained: speed only), else a random-weight model of that shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["MINILM", "default_bi_encoder", "default_cross_encoder", "fine_tuned_cross_encoder"]

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def _packaged_minilm() -> tuple[Path | None, str]:
    """The verified packaged MiniLM folder, or None and why not."""
    from retrieval.pretrained import PretrainedModelError, ensure_model

    try:
        path = Path(ensure_model(MINILM))
    except PretrainedModelError as exc:
        return None, str(exc).split(". ")[0]
    return (path, "") if path.is_dir() else (None, f"{MINILM} is not installed")


def default_bi_encoder(tokenizer: Path, workdir: Path, max_length: int) -> tuple[Path, str]:
    """(model folder, description): the packaged MiniLM, else a random-weight model of its shape."""
    from retrieval.train.scratch import MINILM_L6_SHAPE, random_bert_encoder

    path, why = _packaged_minilm()
    if path is not None:
        return path, f"{MINILM} (pretrained, packaged, verified by sha256)"
    built = random_bert_encoder(tokenizer, workdir / "minilm-l6-shape-random", MINILM_L6_SHAPE, max_length)
    return built, f"MiniLM-L6-H384 shape, random weights (not pretrained: {why})"


def fine_tuned_cross_encoder(dataset: Any, cache_dir: Path, seed: int = 0) -> Path | None:
    """The main job's fine-tuned MiniLM cross-encoder for `dataset` (a loaded BEIR collection with its
    train split) if `benchmarks.run` left it in `cache_dir` (its ``pretrained/<name>`` folders), else None."""
    from rerank.train.pretrained_recipe import cached_pretrained_models

    if not dataset.train_qrels:
        return None
    folder = Path(cache_dir) / "pretrained" / dataset.name
    made = cached_pretrained_models(MINILM, dataset.corpus, dataset.train_queries, dataset.train_qrels, folder, seed)
    return None if made is None else made.reranker_path


def default_cross_encoder(
    tokenizer: Path, workdir: Path, dataset: Any = None, cache_dir: Path | None = None
) -> tuple[Path, str]:
    """(model folder, description): the main job's fine-tuned cross-encoder when `dataset` and `cache_dir`
    find one (`fine_tuned_cross_encoder`), else the packaged MiniLM's body with a new one-logit head,
    else a random one."""
    from benchmarks.perf.rerank_timing import build_random_cross_encoder

    if dataset is not None and cache_dir is not None:
        found = fine_tuned_cross_encoder(dataset, cache_dir)
        if found is not None:
            return found, f"the main job's cross-encoder fine-tuned from {MINILM} (seed 0, cached: {found})"

    path, why = _packaged_minilm()
    if path is None:
        built = build_random_cross_encoder(tokenizer, workdir / "minilm-shaped-random")
        return built, f"random-weight BERT classifier of MiniLM-L6-H384 shape (not pretrained: {why})"
    from sentence_transformers import CrossEncoder

    out = workdir / "minilm-body-one-logit"
    CrossEncoder(str(path), num_labels=1, device="cpu").save(str(out))
    hint = " (run `python -m benchmarks.run scifact` first to time the fine-tuned one)" if dataset is not None else ""
    return out, f"{MINILM} body with a new one-logit head (untrained: speed only){hint}"
