"""The reranker's backends (torch, packed, ONNX Runtime) give the same logits; int8 and bf16 stay close; conflicts refused."""

from __future__ import annotations

import numpy as np
import pytest

from rerank import CrossEncoderReranker
from rerank.train.scratch import random_cross_encoder
from retrieval.onnx_forward import onnx_available

PAIRS = [
    ("what is faiss", "faiss is a library for efficient vector similarity search"),
    ("what is faiss", "jazz music was born in new orleans"),
    ("protein folding", "alphafold predicts the structure a protein folds into " * 8),
    ("protein folding", "the football scores of the weekend"),
    ("a", "b"),
]
needs_onnx = pytest.mark.skipif(not onnx_available(), reason='needs the onnx extra (pip install -e ".[onnx]")')


@pytest.fixture(scope="module", params=[1, 2], ids=["one-logit", "two-logits"])
def ce_path(request, tmp_path_factory, tokenizer_dir):
    out = tmp_path_factory.mktemp(f"ce{request.param}")
    return random_cross_encoder(tokenizer_dir, out, num_labels=request.param, max_length=64, init_std=0.3)


@pytest.mark.parametrize("backend", ["torch", "packed", pytest.param("onnx", marks=needs_onnx)])
def test_every_backend_gives_the_torch_logits(ce_path, backend):
    reference = CrossEncoderReranker.load(str(ce_path), device="cpu", backend="torch").outputs(PAIRS).logits
    reranker = CrossEncoderReranker.load(str(ce_path), device="cpu", backend=backend)
    assert reranker.info()["backend"] == backend
    np.testing.assert_allclose(reranker.outputs(PAIRS).logits, reference, atol=1e-5)


@needs_onnx
def test_onnx_int8_is_onnx_runtimes_quantised_copy_and_stays_close(ce_path):
    fp32 = CrossEncoderReranker.load(str(ce_path), device="cpu", backend="onnx")
    int8 = CrossEncoderReranker.load(str(ce_path), device="cpu", backend="onnx", int8=True)
    assert int8.onnx.path.name == "model.int8.onnx" and int8.onnx.path.parent == fp32.onnx.path.parent
    a, b = fp32.predict(PAIRS), int8.predict(PAIRS)
    assert 0 < np.abs(a - b).max() < 0.05  # really another computation, and a close one
    assert np.corrcoef(a, b)[0, 1] > 0.95


def test_backend_and_packed_together_or_unknown_are_refused(ce_path):
    with pytest.raises(ValueError, match="give one of them"):
        CrossEncoderReranker.load(str(ce_path), device="cpu", backend="torch", packed=True)
    with pytest.raises(ValueError, match="backend must be one of auto, torch, packed, onnx"):
        CrossEncoderReranker.load(str(ce_path), device="cpu", backend="openvino")


@pytest.mark.parametrize("backend", ["torch", "packed"])
def test_bf16_is_close_to_fp32_and_recorded(ce_path, backend):
    fp32 = CrossEncoderReranker.load(str(ce_path), device="cpu", backend=backend)
    bf16 = CrossEncoderReranker.load(str(ce_path), device="cpu", backend=backend, precision="bf16")
    assert bf16.info()["precision"] == "bf16" and fp32.info()["precision"] == "fp32"
    a, b = fp32.outputs(PAIRS).logits, bf16.outputs(PAIRS).logits
    assert b.dtype == np.float32 and 0 < np.abs(a - b).max() < 0.1


def test_precision_conflicts_are_refused(ce_path):
    with pytest.raises(ValueError, match="give one of them"):
        CrossEncoderReranker.load(str(ce_path), device="cpu", int8=True, precision="bf16")
    with pytest.raises(ValueError, match="precision must be one of fp32, int8, bf16"):
        CrossEncoderReranker.load(str(ce_path), device="cpu", precision="fp16")
    with pytest.raises(ValueError, match="torch and packed backends"):
        CrossEncoderReranker.load(str(ce_path), device="cpu", backend="onnx", precision="bf16")
    assert CrossEncoderReranker.load(str(ce_path), device="cpu", int8=True).info()["precision"] == "int8"
