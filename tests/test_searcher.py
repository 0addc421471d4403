"""Stage-1 search through the Searcher: building, loading, encoder checks, input errors, threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from indexes import EncoderMismatchError
from retrieval import Encoder, Hit, Searcher, add_documents, build_index, load_index


@pytest.fixture()
def index(tiny_encoder, toy_corpus):
    return build_index(toy_corpus, tiny_encoder, show_progress=False)


def test_hits_match_brute_force_over_encoder_vectors(index, tiny_encoder, toy_corpus):
    searcher = Searcher(index, tiny_encoder)
    query = "protein folding passage"
    hits = searcher.query(query, k=5)
    docs = index.docs.documents()
    doc_vectors = tiny_encoder.encode_documents(docs, show_progress=False)
    doc_vectors /= np.linalg.norm(doc_vectors, axis=1, keepdims=True)
    q = tiny_encoder.encode_queries([query])[0]
    scores = doc_vectors @ (q / np.linalg.norm(q))
    expected = [docs[i].doc_id for i in np.argsort(-scores)[:5]]
    assert [h.doc_id for h in hits] == expected
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    assert all(isinstance(h, Hit) and h.stage1_score == h.score for h in hits)
    top = hits[0]
    source = next(d for d in toy_corpus if d["_id"] == top.doc_id)
    assert (top.title, top.text, top.metadata) == (source["title"], source["text"], {"lang": "en"})


def test_single_query_equals_batch(index, tiny_encoder):
    searcher = Searcher(index, tiny_encoder)
    queries = ["jazz music", "climate", "football scores passage 3"]
    batch = searcher.query_batch(queries, k=7)
    for q, hits in zip(queries, batch):
        single = searcher.query(q, k=7)
        assert [h.doc_id for h in single] == [h.doc_id for h in hits]
        np.testing.assert_allclose([h.score for h in single], [h.score for h in hits], atol=1e-5)


def test_bad_queries_and_k(index, tiny_encoder):
    searcher = Searcher(index, tiny_encoder)
    for bad in ("", "   \n\t"):
        with pytest.raises(ValueError, match="empty or whitespace"):
            searcher.query(bad)
    with pytest.raises(ValueError, match="k must be a positive"):
        searcher.query("jazz", k=0)
    with pytest.raises(TypeError, match="must be a string"):
        searcher.query_batch(["ok", None])
    with pytest.raises(TypeError, match="list of queries"):
        searcher.query_batch("jazz")
    assert len(searcher.query("jazz", k=1000)) == len(index)
    assert searcher.query_batch([]) == []


def test_min_score_cuts_hits(index, tiny_encoder):
    searcher = Searcher(index, tiny_encoder)
    hits = searcher.query("jazz music", k=10)
    cut = (hits[2].score + hits[3].score) / 2
    assert [h.doc_id for h in searcher.query("jazz music", k=10, min_score=cut)] == [h.doc_id for h in hits[:3]]
    assert searcher.query("jazz music", k=10, min_score=2.0) == []


def test_save_load_same_results_and_add_after_load(index, tiny_encoder, tmp_path):
    queries = ["jazz music", "vector search"]
    before = Searcher(index, tiny_encoder).query_batch(queries, k=10)
    index.save(tmp_path / "idx")
    loaded = Searcher(tmp_path / "idx")  # encoder found through the manifest
    assert loaded.encoder.name == tiny_encoder.name
    after = loaded.query_batch(queries, k=10)
    assert [[h.doc_id for h in hits] for hits in after] == [[h.doc_id for h in hits] for hits in before]
    added = add_documents(loaded.index, loaded.encoder, [{"_id": "new", "text": "jazz music jazz music"}])
    assert added == 1 and loaded.query("jazz music jazz music", k=1)[0].doc_id == "new"


def test_encoder_mismatch_is_refused(index, tmp_path, tokenizer_dir, static_encoder_path):
    from retrieval.train.scratch import TINY_SHAPE, random_bert_encoder

    index.save(tmp_path / "idx")
    other_dim = Encoder.load(str(static_encoder_path))
    with pytest.raises(EncoderMismatchError, match="64-d"):
        load_index(tmp_path / "idx", other_dim)
    same_shape = random_bert_encoder(tokenizer_dir, tmp_path / "other", TINY_SHAPE, max_length=128, seed=7)
    with pytest.raises(EncoderMismatchError, match="does not produce the embeddings"):
        Searcher(tmp_path / "idx", encoder=str(same_shape))
    prompted = Encoder.load(index.manifest.encoder["name"], query_prompt="query: ")
    with pytest.raises(EncoderMismatchError, match="query_prompt"):
        Searcher(index, prompted)


def test_prompts_are_recorded_and_used(tiny_encoder_path, toy_corpus, tmp_path):
    encoder = Encoder.load(str(tiny_encoder_path), query_prompt="query: ", document_prompt="passage: ")
    index = build_index(toy_corpus, encoder, show_progress=False)
    assert index.manifest.encoder["query_prompt"] == "query: "
    index.save(tmp_path / "idx")
    searcher = Searcher(tmp_path / "idx")
    assert searcher.encoder.query_prompt == "query: " and searcher.encoder.document_prompt == "passage: "
    plain = Encoder.load(str(tiny_encoder_path))
    assert not np.allclose(plain.encode_queries(["jazz"]), searcher.encoder.encode_queries(["jazz"]))


def test_concurrent_queries_match_sequential(index, tiny_encoder):
    searcher = Searcher(index, tiny_encoder)
    queries = [f"passage {i} on jazz music" for i in range(24)]
    expected = [[h.doc_id for h in searcher.query(q, k=5)] for q in queries]
    with ThreadPoolExecutor(max_workers=6) as pool:
        got = list(pool.map(lambda q: [h.doc_id for h in searcher.query(q, k=5)], queries))
    assert got == expected


def test_missing_model_gives_actionable_error(tmp_path):
    from retrieval import ModelLoadError

    with pytest.raises(ModelLoadError, match="saved model"):
        Encoder.load("no-such-org/no-such-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError):
        Encoder.load(str(tmp_path / "empty"))
