"""Shared fixtures: models built here from the shared tokenizer, never downloaded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# No network here: make the hub libraries fail fast instead of waiting on connection time-outs.
# (Set before they are imported; the library itself never sets environment variables.)
for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from benchmarks.paths import shared_dir as _shared_dir  # noqa: E402 - after the environment above

SHARED = _shared_dir()
TOKENIZER = SHARED / "tokenizers" / "bert-uncased-wordpiece"


def pytest_collection_modifyitems(config, items):
    try:
        import faiss

        has_gpu = getattr(faiss, "get_num_gpus", lambda: 0)() > 0
    except ImportError:  # pragma: no cover
        has_gpu = False
    try:
        import torch

        has_gpu = has_gpu or torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        pass
    if not has_gpu:
        skip = pytest.mark.skip(reason="no GPU here (FAISS GPU build or CUDA torch needed)")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _own_cache_dir(tmp_path_factory):
    """Exports the library caches by checksum (ONNX encoders) go to this session's temporary folder."""
    previous = os.environ.get("TWOSTAGE_CACHE_DIR")
    os.environ["TWOSTAGE_CACHE_DIR"] = str(tmp_path_factory.mktemp("twostage-cache"))
    yield
    if previous is None:
        os.environ.pop("TWOSTAGE_CACHE_DIR", None)
    else:
        os.environ["TWOSTAGE_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.exists():
        pytest.skip(f"{SHARED} not found (set TWOSTAGE_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def tokenizer_dir(shared_dir) -> Path:
    return TOKENIZER


@pytest.fixture(scope="session")
def tiny_encoder_path(tmp_path_factory, tokenizer_dir) -> Path:
    """A 2-layer, 32-wide BERT sentence-transformer with random weights (plumbing only)."""
    from retrieval.train.scratch import random_bert_encoder

    return random_bert_encoder(tokenizer_dir, tmp_path_factory.mktemp("tiny_encoder"), max_length=128)


@pytest.fixture(scope="session")
def static_encoder_path(tmp_path_factory, tokenizer_dir) -> Path:
    """A StaticEmbedding model with random weights (plumbing only)."""
    from retrieval.train.scratch import static_encoder

    return static_encoder(tokenizer_dir, tmp_path_factory.mktemp("static_encoder"), dim=64)


@pytest.fixture(scope="session")
def tiny_encoder(tiny_encoder_path):
    from retrieval import Encoder

    return Encoder.load(str(tiny_encoder_path), device="cpu")


@pytest.fixture()
def toy_corpus() -> list[dict]:
    topics = ["faiss vector search", "protein folding", "climate models", "football scores", "jazz music"]
    return [
        {"_id": f"d{i}", "title": topics[i % 5], "text": f"passage {i} on {topics[i % 5]} number {i}", "lang": "en"}
        for i in range(40)
    ]
