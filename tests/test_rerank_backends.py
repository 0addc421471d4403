"""The reranker's backends (torch, packed, ONNX Runtime, OpenVINO) give the same logits; int8 and bf16 stay close;
conflicts refused."""

from __future__ import annotations

import numpy as np
import pytest

from rerank import CrossEncoderReranker
from rerank.train.scratch import random_cross_encoder
from retrieval.onnx_forward import onnx_available
from retrieval.openvino_forward import openvino_available

PAIRS = [
    ("what is faiss", "faiss is a library for efficient vector similarity search"),
    ("what is faiss", "jazz music was born in new orleans"),
    ("protein folding", "alphafold predicts the structure a protein folds into " * 8),
    ("protein folding", "the football scores of the weekend"),
    ("a", "b"),
]
needs_onnx = pytest.mark.skipif(not onnx_available(), reason='needs the onnx extra (pip install -e ".[onnx]")')
needs_openvino = pytest.mark.skipif(
    not openvino_available(), reason='needs the openvino extra (pip install -e ".[openvino]")'
)


@pytest.fixture(scope="module", params=[1, 2], ids=["one-logit", "two-logits"])
def ce_path(request, tmp_path_factory, tokenizer_dir):
    out = tmp_path_factory.mktemp(f"ce{request.param}")
    return random_cross_encoder(tokenizer_dir, out, num_labels=request.param, max_length=64, init_std=0.3)


@pytest.mark.parametrize(
    "backend",
    ["torch", "packed", pytest.param("onnx", marks=needs_onnx), pytest.param("openvino", marks=needs_openvino)],
)
def test_every_backend_gives_the_torch_logits(ce_path, backend):
    reference = CrossEncoderReranker.load(str(ce_path), device="cpu", backend="torch").outputs(PAIRS).logits
    reranker = CrossEncoderReranker.load(str(ce_path), device="cpu", backend=backend, precision="fp32")
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
    with pytest.raises(ValueError, match="backend must be one of auto, torch, packed, onnx, openvino"):
        CrossEncoderReranker.load(str(ce_path), device="cpu", backend="tensorrt")


@pytest.mark.parametrize("backend", ["torch", "packed", pytest.param("openvino", marks=needs_openvino)])
def test_bf16_is_close_to_fp32_and_recorded(ce_path, backend):
    fp32 = CrossEncoderReranker.load(str(ce_path), device="cpu", backend=backend, precision="fp32")
    bf16 = CrossEncoderReranker.load(str(ce_path), device="cpu", backend=backend, precision="bf16")
    assert bf16.info()["precision"] == "bf16" and fp32.info()["precision"] == "fp32"
    a, b = fp32.outputs(PAIRS).logits, bf16.outputs(PAIRS).logits
    assert b.dtype == np.float32 and 0 < np.abs(a - b).max() < 0.1


def test_precision_conflicts_are_refused(ce_path):
    with pytest.raises(ValueError, match="give one of them"):
        CrossEncoderReranker.load(str(ce_path), device="cpu", int8=True, precision="bf16")
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, int8, bf16"):
        CrossEncoderReranker.load(str(ce_path), device="cpu", precision="fp16")
    with pytest.raises(ValueError, match="torch, packed and openvino backends"):
        CrossEncoderReranker.load(str(ce_path), device="cpu", backend="onnx", precision="bf16")
    assert CrossEncoderReranker.load(str(ce_path), device="cpu", int8=True).info()["precision"] == "int8"


@needs_openvino
def test_openvino_bf16_is_openvinos_precision_and_leaves_the_model_in_fp32(ce_path):
    import torch

    reranker = CrossEncoderReranker.load(str(ce_path), device="cpu", backend="openvino", precision="bf16")
    assert all(p.dtype == torch.float32 for p in reranker.model.parameters())
    assert reranker.onnx.precision == "bf16"
    fp32 = CrossEncoderReranker.load(str(ce_path), device="cpu", backend="openvino", precision="fp32")
    assert fp32.onnx.inference_precision == "f32"  # asked for explicitly: OpenVINO would pick bf16 on AMX CPUs
    assert fp32.onnx.path == reranker.onnx.path  # one export, compiled twice


@needs_openvino
def test_openvino_int8_is_refused_with_the_alternatives(ce_path):
    with pytest.raises(ValueError, match="openvino.*for int8 use backend='packed' or 'onnx'"):
        CrossEncoderReranker.load(str(ce_path), device="cpu", backend="openvino", precision="int8")
