"""The models the speed benchmarks time by default: the packaged all-MiniLM-L6-v2, else its shape with random weights.

Speed depends on the shape only, so the fallback times the same work; the report says which was used.
Stage 2 times the MiniLM body with a one-logit head, the shape of the cross-encoder the pretrained
recipe fine-tunes from it (its head is untrained here: speed only, unless a trained model is given).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["MINILM", "default_bi_encoder", "default_cross_encoder"]

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


def default_cross_encoder(tokenizer: Path, workdir: Path) -> tuple[Path, str]:
    """(model folder, description): the packaged MiniLM's body with a new one-logit head, else a random one."""
    from benchmarks.perf.rerank_timing import build_random_cross_encoder

    path, why = _packaged_minilm()
    if path is None:
        built = build_random_cross_encoder(tokenizer, workdir / "minilm-shaped-random")
        return built, f"random-weight BERT classifier of MiniLM-L6-H384 shape (not pretrained: {why})"
    from sentence_transformers import CrossEncoder

    out = workdir / "minilm-body-one-logit"
    CrossEncoder(str(path), num_labels=1, device="cpu").save(str(out))
    return out, f"{MINILM} body with a new one-logit head (untrained: speed only)"
