"""Storage layer: documents, FAISS vectors, persistence, corruption, removal."""

from __future__ import annotations

import json

import numpy as np
import pytest

from indexes import CorpusError, Document, Index, IndexFormatError, VectorIndex, read_corpus, validate_documents
from indexes.vectors import GPU_MAX_K


def _random(n, d, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def _docs(n, prefix="d"):
    return [Document(f"{prefix}{i}", f"text {i}", title=f"title {i}", metadata={"i": i}) for i in range(n)]


def test_validation_lists_every_offender():
    records = [
        {"_id": "a", "text": "ok"},
        {"_id": "a", "text": "again"},
        {"_id": "b", "text": "   "},
        {"_id": "c"},
        {"_id": "", "text": "x"},
        {"_id": "e", "text": 5},
        "not a record",
    ]
    with pytest.raises(CorpusError) as err:
        validate_documents(records)
    message = str(err.value)
    assert "6 document(s)" in message
    for fragment in ("duplicate id", "empty text", "text must be a string", "id must be a non-empty", "record 6"):
        assert fragment in message


def test_extra_fields_become_metadata_and_int_ids_strings():
    (doc,) = validate_documents([{"_id": 3, "text": "t", "lang": "en", "metadata": {"k": 1}}])
    assert doc.doc_id == "3" and doc.metadata == {"k": 1, "lang": "en"}


def test_read_corpus_beir_folder_and_bad_json(tmp_path):
    folder = tmp_path / "beir"
    folder.mkdir()
    (folder / "corpus.jsonl").write_text('{"_id": "x", "title": "T", "text": "body"}\n')
    assert read_corpus(folder)[0] == Document("x", "body", "T", {})
    (folder / "corpus.jsonl").write_text('{"_id": "x", "text": "body"}\n{broken\n')
    with pytest.raises(CorpusError, match="corpus.jsonl:2"):
        read_corpus(folder)
    with pytest.raises(CorpusError, match="not found"):
        read_corpus(tmp_path / "nowhere.jsonl")


def test_read_corpus_from_datasets_object():
    from datasets import Dataset

    ds = Dataset.from_list([{"_id": "a", "title": "", "text": "one"}, {"_id": "b", "title": "", "text": "two"}])
    assert [d.doc_id for d in read_corpus(ds)] == ["a", "b"]


@pytest.mark.parametrize("metric", ["ip", "l2", "cosine"])
def test_flat_search_equals_numpy_brute_force(metric):
    base, queries = _random(500, 16, 1), _random(20, 16, 2)
    index = Index.create(16, "Flat", metric)
    index.add(_docs(500), base)
    if metric == "cosine":
        base = base / np.linalg.norm(base, axis=1, keepdims=True)
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    if metric == "l2":
        truth = -((queries[:, None, :] - base[None, :, :]) ** 2).sum(-1)
    else:
        truth = queries @ base.T
    expected = np.argsort(-truth, axis=1)[:, :10]
    for qi, found in enumerate(index.search(queries, 10)):
        assert [d.doc_id for d, _ in found] == [f"d{i}" for i in expected[qi]]
        np.testing.assert_allclose([s for _, s in found], truth[qi, expected[qi]], rtol=1e-4, atol=1e-4)


def test_approximate_index_keeps_recall_of_exact():
    rng = np.random.default_rng(3)
    centers = rng.standard_normal((50, 32)).astype(np.float32)
    base = (centers[rng.integers(0, 50, 5000)] + 0.3 * rng.standard_normal((5000, 32))).astype(np.float32)
    queries = (centers[rng.integers(0, 50, 100)] + 0.3 * rng.standard_normal((100, 32))).astype(np.float32)
    exact = VectorIndex(32, "Flat", "l2")
    exact.add(base, np.arange(5000))
    _, truth = exact.search(queries, 10)
    for factory in ("HNSW32", "IVF64,Flat"):
        approx = VectorIndex(32, factory, "l2")
        approx.add(base, np.arange(5000))
        if factory.startswith("IVF"):
            import faiss

            faiss.extract_index_ivf(approx._cpu).nprobe = 8
        _, found = approx.search(queries, 10)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)])
        assert recall >= 0.9, (factory, recall)


def test_k_larger_than_corpus_and_above_gpu_limit():
    index = Index.create(8, "Flat", "ip")
    index.add(_docs(5), _random(5, 8))
    assert len(index.search(_random(1, 8), 50)[0]) == 5
    big = Index.create(8, "Flat", "ip")
    big.add(_docs(GPU_MAX_K + 100), _random(GPU_MAX_K + 100, 8))
    assert len(big.search(_random(2, 8), GPU_MAX_K + 50)[1]) == GPU_MAX_K + 50
    with pytest.raises(ValueError, match="k must be positive"):
        index.search(_random(1, 8), 0)


def test_add_is_all_or_nothing():
    index = Index.create(4, "Flat", "ip")
    index.add(_docs(3), _random(3, 4))
    with pytest.raises(CorpusError, match="duplicate id"):
        index.add([Document("new", "x"), Document("d1", "dup")], _random(2, 4))
    with pytest.raises(ValueError, match="2 documents but 3 vectors"):
        index.add(_docs(2, "z"), _random(3, 4))
    assert len(index) == 3 and index.vectors.ntotal == 3


def test_remove_where_supported_and_clear_error_where_not():
    index = Index.create(8, "Flat", "ip")
    index.add(_docs(10), _random(10, 8))
    assert index.remove(["d3", "d4"]) == 2
    found = {d.doc_id for d, _ in index.search(_random(3, 8), 10)[0]}
    assert found == {f"d{i}" for i in range(10)} - {"d3", "d4"}
    hnsw = Index.create(8, "HNSW32", "ip")
    hnsw.add(_docs(10), _random(10, 8))
    with pytest.raises(NotImplementedError, match="does not support removing"):
        hnsw.remove(["d1"])
    assert len(hnsw) == 10


@pytest.mark.parametrize("factory", ["Flat", "HNSW16", "IVF4,PQ4x4"])
def test_save_load_round_trip_and_add_after_load(tmp_path, factory):
    index = Index.create(16, factory, "cosine")
    base, queries = _random(300, 16), _random(5, 16, 9)
    index.vectors.train(index.prepare_vectors(base))
    index.add(_docs(300), base)
    before = [[(d.doc_id, round(s, 5)) for d, s in hits] for hits in index.search(queries, 10)]
    index.save(tmp_path / "idx")
    loaded = Index.load(tmp_path / "idx")
    after = [[(d.doc_id, round(s, 5)) for d, s in hits] for hits in loaded.search(queries, 10)]
    assert after == before
    assert loaded.docs.get_rows([7])[0] == Document("d7", "text 7", "title 7", {"i": 7})
    loaded.add([Document("fresh", "new text")], queries[:1])
    assert loaded.search(queries[:1], 1)[0][0][0].doc_id == "fresh"
    loaded.save(tmp_path / "idx")
    assert Index.load(tmp_path / "idx").manifest.doc_count == 301


def test_manifest_describes_the_index(tmp_path):
    index = Index.create(4, "Flat", "cosine", encoder={"name": "enc", "dim": 4})
    index.add(_docs(2), _random(2, 4))
    index.save(tmp_path / "idx")
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["format_version"] == 2 and manifest["dim"] == 4 and manifest["metric"] == "cosine"
    assert manifest["normalize"] is True and manifest["factory"] == "Flat" and manifest["doc_count"] == 2
    assert manifest["encoder"]["name"] == "enc" and "faiss-cpu" in manifest["libraries"]
    assert set(manifest["files"]) == {"vectors.000001.faiss", "docs.000001.parquet"}


def test_truncated_or_corrupt_directory_is_refused(tmp_path):
    index = Index.create(4, "Flat", "ip")
    index.add(_docs(20), _random(20, 4))
    path = index.save(tmp_path / "idx")
    vectors = path / "vectors.000001.faiss"
    data = vectors.read_bytes()
    vectors.write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexFormatError, match="truncated"):
        Index.load(path)
    vectors.write_bytes(data[:-8] + b"\x00" * 8)
    with pytest.raises(IndexFormatError, match="checksum"):
        Index.load(path)
    vectors.write_bytes(data)
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(IndexFormatError, match="corrupt"):
        Index.load(path)
    with pytest.raises(IndexFormatError, match="not an index directory"):
        Index.load(tmp_path / "missing")


def test_docstore_keeps_metadata_types(tmp_path):
    index = Index.create(4, "Flat", "ip")
    index.add([Document("a", "x", metadata={"year": 2020, "tags": ["a", "b"], "score": 0.5})], _random(1, 4))
    index.save(tmp_path / "i")
    (doc, _), = Index.load(tmp_path / "i").search(_random(1, 4), 1)[0]
    assert doc.metadata == {"year": 2020, "tags": ["a", "b"], "score": 0.5}


@pytest.mark.gpu
def test_gpu_index_gives_cpu_results():
    base, queries = _random(2000, 32), _random(10, 32, 5)
    cpu = VectorIndex(32, "Flat", "ip", use_gpu=False)
    gpu = VectorIndex(32, "Flat", "ip", use_gpu=True)
    for v in (cpu, gpu):
        v.add(base, np.arange(2000))
    s_cpu, i_cpu = cpu.search(queries, 10)
    s_gpu, i_gpu = gpu.search(queries, 10)
    assert gpu.on_gpu
    np.testing.assert_array_equal(i_cpu, i_gpu)
    np.testing.assert_allclose(s_cpu, s_gpu, rtol=1e-4)
    assert gpu.search(queries, GPU_MAX_K + 1)[1].shape[1] == 2000
