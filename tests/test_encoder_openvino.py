"""The encoder's OpenVINO backend: the torch vectors from the shared ONNX export, clear refusals."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.encoder import Encoder
from retrieval.openvino_forward import OpenVinoBackendError, OpenVinoForward, openvino_available

pytestmark = pytest.mark.skipif(
    not openvino_available(), reason='needs the openvino extra (pip install -e ".[openvino]")'
)

TOL = 1e-5
QUERIES = ["what is faiss", "x", "do statins reduce mortality in older adults " * 3]


def test_openvino_runs_every_batch_with_the_torch_vectors(tiny_encoder, toy_corpus, tmp_path):
    openvino = Encoder(tiny_encoder.model, "tiny", backend="openvino", onnx_cache=tmp_path)
    torch_only = Encoder(tiny_encoder.model, "tiny", backend="torch")
    docs = [f"{d['title']} {d['text']}" for d in toy_corpus]
    calls = []
    handle = tiny_encoder.model.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        got = openvino.encode_documents(docs, show_progress=False)
        got_queries = openvino.encode_queries(QUERIES)
    finally:
        handle.remove()
    assert calls == []  # torch never ran a forward pass
    assert np.abs(got - torch_only.encode_documents(docs, show_progress=False)).max() <= TOL
    assert np.abs(got_queries - torch_only.encode_queries(QUERIES)).max() <= TOL
    assert openvino._onnx["small"].inference_precision == "f32"
    # It compiles the ONNX export the onnx backend would use: one file in the cache.
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["model.onnx"]


def test_openvino_refuses_bf16_and_models_that_do_not_export(tiny_encoder, static_encoder_path, tmp_path):
    with pytest.raises(ValueError, match="precision='bf16' runs on torch.*not 'openvino'"):
        Encoder(tiny_encoder.model, "tiny", backend="openvino", precision="bf16")
    static = Encoder.load(str(static_encoder_path), device="cpu")
    with pytest.raises(OpenVinoBackendError, match="StaticEmbedding.*backend='torch'"):
        Encoder(static.model, "static", backend="openvino", onnx_cache=tmp_path)
    with pytest.raises(ValueError, match="fp32 or bf16, got 'int8'; for int8 use"):
        OpenVinoForward(tiny_encoder.model, tmp_path, precision="int8")


def test_searcher_loads_its_encoder_on_openvino(tiny_encoder, toy_corpus, tmp_path):
    from retrieval import Searcher, build_index

    index = build_index(toy_corpus, tiny_encoder, "Flat", use_gpu=False, show_progress=False)
    index.save(tmp_path / "index")
    on_openvino = Searcher(tmp_path / "index", backend="openvino")
    on_torch = Searcher(tmp_path / "index", backend="torch")
    assert on_openvino.encoder.backend == "openvino"
    ids = lambda hits: [h.doc_id for h in hits]  # noqa: E731
    assert ids(on_openvino.query("faiss vector search", k=5)) == ids(on_torch.query("faiss vector search", k=5))
