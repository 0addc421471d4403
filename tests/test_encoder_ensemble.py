"""Encoder ensembles: the weighted mean of the parts' cosines, saved, reloaded, indexed and searched."""

from __future__ import annotations

import json

import numpy as np
import pytest

from indexes import EncoderMismatchError
from retrieval import Encoder, Searcher, TextEncoder, build_index, load_index
from retrieval.encoder_ensemble import ENSEMBLE_FILE, EncoderEnsemble, is_ensemble, save_ensemble
from retrieval.train.scratch import static_encoder


@pytest.fixture(scope="module")
def ensemble_dir(tmp_path_factory, tokenizer_dir):
    folder = tmp_path_factory.mktemp("ensemble")
    static_encoder(tokenizer_dir, folder / "a", dim=48, seed=1)
    static_encoder(tokenizer_dir, folder / "b", dim=16, seed=2)
    return save_ensemble(folder, ["a", "b"], [3.0, 1.0])


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_inner_product_is_the_weighted_mean_of_the_parts_cosines(ensemble_dir, toy_corpus):
    ensemble = Encoder.load(ensemble_dir)
    assert isinstance(ensemble, EncoderEnsemble) and ensemble.dim == 64 and ensemble.metric == "cosine"
    # Made of encoders, not one: it has the interface the index and the Searcher use, and no model of its own.
    assert isinstance(ensemble, TextEncoder) and not isinstance(ensemble, Encoder) and ensemble.model is None
    queries = ["protein folding", "jazz music on the radio"]
    docs = [d["title"] + " " + d["text"] for d in toy_corpus[:6]]
    got = ensemble.encode_queries(queries) @ ensemble.encode_documents(docs, show_progress=False).T
    cosines = []
    for part in ("a", "b"):
        alone = Encoder.load(ensemble_dir / part)
        cosines.append(_unit(alone.encode_queries(queries)) @ _unit(alone.encode_documents(docs, show_progress=False)).T)
    np.testing.assert_allclose(got, 0.75 * cosines[0] + 0.25 * cosines[1], atol=1e-5)
    assert not np.allclose(cosines[0], cosines[1], atol=1e-3)  # the parts differ, so the weights matter
    np.testing.assert_allclose(np.linalg.norm(ensemble.encode_queries(queries), axis=1), 1.0, atol=1e-5)


def test_an_index_built_with_an_ensemble_reloads_with_it_and_refuses_another(ensemble_dir, toy_corpus, tmp_path,
                                                                             tokenizer_dir):
    ensemble = Encoder.load(ensemble_dir)
    index = build_index(toy_corpus, ensemble, show_progress=False)
    index.save(tmp_path / "index")
    expected = [h.doc_id for h in Searcher(index, ensemble).query("climate models", k=5)]
    reloaded, encoder = load_index(tmp_path / "index")  # the encoder named in the manifest: the ensemble folder
    assert isinstance(encoder, EncoderEnsemble)
    assert [h.doc_id for h in Searcher(reloaded, encoder).query("climate models", k=5)] == expected
    other = tmp_path / "other"
    static_encoder(tokenizer_dir, other / "a", dim=48, seed=1)
    static_encoder(tokenizer_dir, other / "b", dim=16, seed=2)
    save_ensemble(other, ["a", "b"])  # same parts, equal weights: other vectors
    with pytest.raises(EncoderMismatchError, match="does not produce the embeddings"):
        load_index(tmp_path / "index", str(other))


def test_bad_ensembles_are_refused_with_the_fix(ensemble_dir, tmp_path, tiny_encoder):
    with pytest.raises(ValueError, match="one weight per part"):
        save_ensemble(ensemble_dir, ["a", "b"], [1.0])
    with pytest.raises(ValueError, match="positive and finite"):
        save_ensemble(ensemble_dir, ["a", "b"], [1.0, 0.0])
    with pytest.raises(FileNotFoundError, match="no modules.json"):
        save_ensemble(ensemble_dir, ["a", "missing"])
    with pytest.raises(ValueError, match="sub-folder name"):
        save_ensemble(ensemble_dir, ["a", "../b"])
    with pytest.raises(ValueError, match="at least one part"):
        EncoderEnsemble([], "none")
    prompted = Encoder(tiny_encoder.model, "prompted", query_prompt="query: ")
    with pytest.raises(ValueError, match="use no prompts"):
        EncoderEnsemble([prompted], "bad")
    # the saved description is untouched by the refused calls
    assert json.loads((ensemble_dir / ENSEMBLE_FILE).read_text())["weights"] == [3.0, 1.0]
    assert is_ensemble(ensemble_dir) and not is_ensemble(tmp_path)


def test_configured_keeps_the_vectors(ensemble_dir, toy_corpus):
    ensemble = Encoder.load(ensemble_dir)
    bulk = ensemble.configured(256, token_budget=1 << 20, small_batch_threads=None)
    docs = [d["text"] for d in toy_corpus]
    np.testing.assert_allclose(
        bulk.encode_documents(docs, show_progress=False), ensemble.encode_documents(docs, show_progress=False), atol=1e-6
    )
