"""The reranker's default precision per device: bf16 on AMX CPUs for the packed and OpenVINO paths,
fp32 elsewhere; a default never converts the caller's own model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rerank import CrossEncoderReranker
from rerank.precision import cpu_has_amx, default_precision
from rerank.train.scratch import random_cross_encoder

PAIRS = [
    ("what is faiss", "faiss is a library for efficient vector similarity search"),
    ("what is faiss", "jazz music was born in new orleans"),
    ("protein folding", "alphafold predicts the structure a protein folds into " * 8),
    ("protein folding", "the football scores of the weekend"),
]


@pytest.fixture(scope="module")
def ce_path(tmp_path_factory, tokenizer_dir):
    return random_cross_encoder(tokenizer_dir, tmp_path_factory.mktemp("ce"), num_labels=1, max_length=64, init_std=0.3)


def test_the_rule_by_device_and_path(monkeypatch):
    import rerank.precision as precision

    monkeypatch.setattr(precision, "cpu_has_amx", lambda: True)
    assert default_precision(on_cpu=True, packed=True, backend="auto") == "bf16"
    assert default_precision(on_cpu=True, packed=False, backend="openvino") == "bf16"
    assert default_precision(on_cpu=True, packed=False, backend="onnx") == "fp32"  # ONNX Runtime runs no bf16 here
    assert default_precision(on_cpu=True, packed=False, backend="torch") == "fp32"  # not the measured path
    assert default_precision(on_cpu=False, packed=False, backend="auto") == "fp32"  # GPU: not measured
    assert default_precision(on_cpu=True, packed=True, backend="auto", int8=True) == "int8"
    monkeypatch.setattr(precision, "cpu_has_amx", lambda: False)
    assert default_precision(on_cpu=True, packed=True, backend="auto") == "fp32"


def test_amx_is_read_from_the_cpu():
    flags = Path("/proc/cpuinfo")
    if not flags.exists():
        pytest.skip("no /proc/cpuinfo to compare with")
    assert cpu_has_amx() == ("amx_tile" in flags.read_text().split())


def test_the_default_follows_this_cpu_and_stays_close_to_fp32(ce_path):
    expected = "bf16" if cpu_has_amx() else "fp32"
    default = CrossEncoderReranker.load(str(ce_path), device="cpu")
    assert default.info()["precision"] == expected
    assert CrossEncoderReranker.load(str(ce_path), device="cpu", precision="auto").info()["precision"] == expected
    fp32 = CrossEncoderReranker.load(str(ce_path), device="cpu", precision="fp32")
    assert fp32.info()["precision"] == "fp32"
    ours, exact = default.predict(PAIRS), fp32.predict(PAIRS)
    np.testing.assert_allclose(ours, exact, atol=0.02)
    assert list(np.argsort(-ours)) == list(np.argsort(-exact))
    on_torch = CrossEncoderReranker.load(str(ce_path), device="cpu", backend="torch")
    assert on_torch.info()["precision"] == "fp32"


def test_a_default_never_converts_the_callers_model(ce_path):
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(ce_path), device="cpu")
    reranker = CrossEncoderReranker(model, "mine")
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the caller's model is untouched
    if reranker.info()["precision"] == "bf16":
        assert reranker.model is not model
        assert all(p.dtype == torch.bfloat16 for p in reranker.model.parameters())
    np.testing.assert_allclose(model.predict(PAIRS), CrossEncoderReranker(model, "m", precision="fp32").predict(PAIRS), atol=1e-5)
    asked = CrossEncoder(str(ce_path), device="cpu")
    CrossEncoderReranker(asked, "mine", precision="bf16")  # asked for by name: converted in place, as documented
    assert all(p.dtype == torch.bfloat16 for p in asked.parameters())


def test_int8_packs_for_onednn_on_amx_and_leaves_torchs_engine(ce_path):
    from retrieval.cpu import int8_engine

    assert int8_engine() == ("onednn" if cpu_has_amx() else None)
    before = torch.backends.quantized.engine
    int8 = CrossEncoderReranker.load(str(ce_path), device="cpu", precision="int8")
    assert torch.backends.quantized.engine == before  # the global setting is restored after packing
    exact = CrossEncoderReranker.load(str(ce_path), device="cpu", precision="fp32").predict(PAIRS)
    np.testing.assert_allclose(int8.predict(PAIRS), exact, atol=0.05)
    padded = CrossEncoderReranker.load(str(ce_path), device="cpu", precision="int8", backend="torch")
    assert torch.backends.quantized.engine == before
    np.testing.assert_allclose(padded.predict(PAIRS), exact, atol=0.05)
