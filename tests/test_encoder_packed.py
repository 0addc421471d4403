"""`Encoder(backend="packed")`: the padding-free BERT forward gives the model's own embeddings, in fp32
and bf16, for documents and queries; a model it cannot run is refused with the fix named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval.encoder import Encoder

TEXTS = [
    "FAISS searches dense vectors.",
    "A much longer document about protein folding, the structures proteins fold into, and the "
    "models that predict them from their amino-acid sequence alone " * 3,
    "short",
    "Cross-encoders read the query and the passage together.",
]


def _pair(path: Path, **options) -> tuple[Encoder, Encoder]:
    return Encoder.load(str(path), backend="torch", **options), Encoder.load(str(path), backend="packed", **options)


def test_packed_gives_the_models_own_embeddings(tiny_encoder_path):
    torch_encoder, packed = _pair(tiny_encoder_path)
    assert packed.backend == "packed"
    np.testing.assert_allclose(packed.encode_documents(TEXTS, show_progress=False),
                               torch_encoder.encode_documents(TEXTS, show_progress=False), atol=1e-5)
    np.testing.assert_allclose(packed.encode_queries(TEXTS[:1]), torch_encoder.encode_queries(TEXTS[:1]), atol=1e-5)
    assert packed.info()["probe"] == pytest.approx(torch_encoder.info()["probe"], abs=1e-5)


def test_packed_bf16_stays_close_to_fp32(tiny_encoder_path):
    fp32 = Encoder.load(str(tiny_encoder_path), backend="torch")
    packed_bf16 = Encoder.load(str(tiny_encoder_path), backend="packed", precision="bf16")
    ours, exact = packed_bf16.encode_documents(TEXTS, show_progress=False), fp32.encode_documents(TEXTS, show_progress=False)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, exact, atol=0.03)


def test_int8_runs_packed_close_to_fp32_and_its_index_reloads_in_int8(tiny_encoder_path, toy_corpus, tmp_path):
    from indexes.errors import EncoderMismatchError
    from retrieval import Searcher, build_index

    fp32 = Encoder.load(str(tiny_encoder_path), backend="torch")
    int8 = Encoder.load(str(tiny_encoder_path), precision="int8")
    assert (int8.backend, int8.precision) == ("packed", "int8") and int8._packed[0].int8
    ours, exact = int8.encode_documents(TEXTS, show_progress=False), fp32.encode_documents(TEXTS, show_progress=False)
    assert ours.dtype == np.float32 and 0 < np.abs(ours - exact).max() < 0.1
    assert (ours * exact).sum(1).min() > 0.98  # unit vectors: cosine
    index = build_index(toy_corpus, int8, "Flat", use_gpu=False, show_progress=False)
    assert index.manifest.encoder["precision"] == "int8"
    index.save(tmp_path / "idx")
    searcher = Searcher(tmp_path / "idx")
    assert searcher.encoder.precision == "int8" and searcher.query("faiss vector search", k=3)
    with pytest.raises(EncoderMismatchError, match="precision 'int8'.*runs 'fp32'.*precision='int8'"):
        Searcher(tmp_path / "idx", encoder=fp32)


def test_int8_elsewhere_than_the_packed_forward_is_refused(tiny_encoder_path, static_encoder_path):
    for backend in ("torch", "onnx", "openvino"):
        with pytest.raises(ValueError, match=f"precision='int8' runs on the packed BERT forward.*not '{backend}'"):
            Encoder.load(str(tiny_encoder_path), backend=backend, precision="int8")
    refused = r"precision='int8' runs on the packed forward, which cannot run .*'fp32' or 'bf16'"
    with pytest.raises(ValueError, match=refused):
        Encoder.load(str(static_encoder_path), precision="int8")


def test_a_model_the_packed_forward_cannot_run_is_refused(static_encoder_path):
    with pytest.raises(ValueError, match=r"backend='packed' cannot run this model: .*use backend='torch'"):
        Encoder.load(str(static_encoder_path), backend="packed")


def test_packed_on_the_real_minilm(tmp_path):
    from retrieval.pretrained import PackageNotInstalledError, ensure_model

    try:
        path = ensure_model("sentence-transformers/all-MiniLM-L6-v2")
    except PackageNotInstalledError as exc:
        pytest.skip(f"the packaged model is not installed: {exc}")
    torch_encoder, packed = _pair(Path(path))
    np.testing.assert_allclose(packed.encode_documents(TEXTS, show_progress=False),
                               torch_encoder.encode_documents(TEXTS, show_progress=False), atol=1e-5)


def test_searcher_and_search_cli_run_queries_packed(tiny_encoder, toy_corpus, tmp_path, capsys):
    from retrieval import Searcher, build_index
    from retrieval.search import main as search_main

    index = build_index(toy_corpus, tiny_encoder, "Flat", use_gpu=False, show_progress=False)
    index.save(tmp_path / "index")
    on_torch, packed = Searcher(tmp_path / "index", backend="torch"), Searcher(tmp_path / "index", backend="packed")
    assert packed.encoder.backend == "packed"
    ids = lambda hits: [h.doc_id for h in hits]  # noqa: E731
    assert ids(packed.query("faiss vector search", k=5)) == ids(on_torch.query("faiss vector search", k=5))
    assert search_main(["faiss vector search", "--index", str(tmp_path / "index"), "--backend", "packed", "--json"]) == 0
    assert "doc_id" in capsys.readouterr().out


def test_packed_bulk_batches_on_worker_threads_match_and_keep_torchs_threads(tiny_encoder_path):
    import torch

    texts = [f"document {i} about " + "vector search and protein folding " * (1 + i % 7) for i in range(40)]
    options = {"token_budget": 256, "small_batch_tokens": 8}  # many bulk batches, none small
    torch_encoder, packed = _pair(tiny_encoder_path, **options)
    threads = torch.get_num_threads()
    np.testing.assert_allclose(packed.encode_documents(texts, show_progress=False),
                               torch_encoder.encode_documents(texts, show_progress=False), atol=1e-5)
    assert torch.get_num_threads() == threads
    if threads > 1:
        assert packed._pool is not None  # the bulk batches ran on the worker threads
