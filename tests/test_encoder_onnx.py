"""The encoder's ONNX Runtime backend: same vectors as torch, exports cached by weights checksum, clear refusals."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch

from retrieval.encoder import Encoder
from retrieval.onnx_forward import OnnxBackendError, onnx_available

pytestmark = pytest.mark.skipif(not onnx_available(), reason='needs the onnx extra (pip install -e ".[onnx]")')

TOL = 1e-5
QUERIES = ["what is faiss", "x", "do statins reduce mortality in older adults " * 3]


def _docs(toy_corpus) -> list[str]:
    return [f"{d['title']} {d['text']}" for d in toy_corpus] + [" ".join(d["text"] for d in toy_corpus)]


def test_auto_runs_single_queries_through_onnx_with_the_torch_vectors(tiny_encoder, toy_corpus, tmp_path):
    torch_only = Encoder(tiny_encoder.model, "tiny", backend="torch")
    auto = Encoder(tiny_encoder.model, "tiny", onnx_cache=tmp_path)
    for query in QUERIES:
        assert np.abs(auto.encode_queries([query]) - torch_only.encode_queries([query])).max() <= TOL
    assert auto._onnx["small"] is not None and auto._onnx["small"].path.is_file()
    docs = _docs(toy_corpus)
    got, reference = auto.encode_documents(docs, show_progress=False), torch_only.encode_documents(docs, show_progress=False)
    assert np.abs(got - reference).max() <= TOL
    assert "bulk" not in auto._onnx  # auto keeps big batches on torch


def test_onnx_backend_runs_every_batch_and_matches_torch(tiny_encoder, toy_corpus, tmp_path):
    onnx = Encoder(tiny_encoder.model, "tiny", backend="onnx", onnx_cache=tmp_path, query_prompt="query: ")
    torch_only = Encoder(tiny_encoder.model, "tiny", backend="torch", query_prompt="query: ")
    docs = _docs(toy_corpus)
    calls = []
    handle = tiny_encoder.model.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        got = onnx.encode_documents(docs, show_progress=False)
        got_queries = onnx.encode_queries(QUERIES)
    finally:
        handle.remove()
    assert calls == []  # torch never ran a forward pass
    assert np.abs(got - torch_only.encode_documents(docs, show_progress=False)).max() <= TOL
    assert np.abs(got_queries - torch_only.encode_queries(QUERIES)).max() <= TOL


def test_the_export_is_reused_for_the_same_weights_and_redone_for_others(tiny_encoder, tmp_path):
    first = Encoder(tiny_encoder.model, "tiny", backend="onnx", onnx_cache=tmp_path)
    path = first._onnx["small"].path
    stamp = path.stat().st_mtime_ns
    again = Encoder(tiny_encoder.model, "tiny", backend="onnx", onnx_cache=tmp_path)
    assert again._onnx["small"].path == path and path.stat().st_mtime_ns == stamp
    changed = copy.deepcopy(tiny_encoder.model)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for weight in changed.parameters():
            weight.add_(0.05 * torch.randn(weight.shape, generator=generator))
    other = Encoder(changed, "tiny-changed", backend="onnx", onnx_cache=tmp_path)
    assert other._onnx["small"].path != path
    assert np.abs(other.encode_queries(QUERIES[:1]) - first.encode_queries(QUERIES[:1])).max() > 1e-4
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["model.onnx", "model.onnx"]


def test_a_model_that_does_not_export_is_refused_by_onnx_and_left_to_torch_by_auto(static_encoder_path, tmp_path):
    static = Encoder.load(str(static_encoder_path), device="cpu")
    with pytest.raises(OnnxBackendError, match="StaticEmbedding.*backend='torch'"):
        Encoder(static.model, "static", backend="onnx", onnx_cache=tmp_path)
    auto = Encoder(static.model, "static", onnx_cache=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = auto.encode_queries(["one query"])
    assert auto._onnx["small"] is None and not any(tmp_path.iterdir())
    assert np.abs(got - Encoder(static.model, "static", backend="torch").encode_queries(["one query"])).max() <= TOL


def test_auto_warns_and_uses_torch_when_the_export_cannot_be_written(tiny_encoder, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file the user keeps here")
    auto = Encoder(tiny_encoder.model, "tiny", onnx_cache=blocker)
    with pytest.warns(RuntimeWarning, match="ONNX Runtime export failed.*backend='torch'"):
        got = auto.encode_queries(["one query"])
    assert blocker.read_text() == "a file the user keeps here"
    reference = Encoder(tiny_encoder.model, "tiny", backend="torch").encode_queries(["one query"])
    assert np.abs(got - reference).max() <= TOL


def test_unknown_backend_is_refused(tiny_encoder):
    with pytest.raises(ValueError, match="backend must be one of auto, torch, packed, onnx, openvino"):
        Encoder(tiny_encoder.model, "tiny", backend="tensorrt")


def test_searcher_and_search_cli_load_the_encoder_on_the_backend_asked(tiny_encoder, toy_corpus, tmp_path, capsys):
    from retrieval import Searcher, build_index
    from retrieval.search import main as search_main

    index = build_index(toy_corpus, tiny_encoder, "Flat", use_gpu=False, show_progress=False)
    index.save(tmp_path / "index")
    on_torch = Searcher(tmp_path / "index", backend="torch")
    on_onnx = Searcher(tmp_path / "index", backend="onnx")
    assert (on_torch.encoder.backend, on_onnx.encoder.backend) == ("torch", "onnx")
    ids = lambda hits: [h.doc_id for h in hits]  # noqa: E731
    assert ids(on_onnx.query("faiss vector search", k=5)) == ids(on_torch.query("faiss vector search", k=5))
    with pytest.raises(ValueError, match="pass backend to Encoder.load"):
        Searcher(index, encoder=on_torch.encoder, backend="onnx")
    assert Searcher(index, encoder=on_torch.encoder).encoder is on_torch.encoder  # no backend named: its own
    assert search_main(["faiss vector search", "--index", str(tmp_path / "index"), "--backend", "onnx", "--json"]) == 0
    assert "doc_id" in capsys.readouterr().out
