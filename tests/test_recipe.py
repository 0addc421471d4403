"""The from-scratch recipe: trains both stages, caches by recipe and data, never retrains on a second call."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexes import read_corpus
from rerank.train.recipe import FAST, ScratchModels, cache_key, data_fingerprint, scratch_models

TOPICS = ["faiss vector search", "protein folding", "climate models", "football scores", "jazz music"]
RECORDS = [
    {
        "_id": f"d{i}",
        "title": f"{TOPICS[i % 5]} note {i}",
        "text": f"Passage {i} is about {TOPICS[i % 5]}. It mentions item {i} once. Another sentence covers {TOPICS[i % 5]}.",
    }
    for i in range(30)
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("scratch_cache")


def test_recipe_trains_then_reuses_the_cache(cache_dir):
    from sentence_transformers import CrossEncoder, SentenceTransformer

    from rerank.kernel_model import register

    register()  # the recipe's reranker is a K-NRM one, loaded here with CrossEncoder directly

    tmp_path = cache_dir
    first = scratch_models(Path("toy"), RECORDS, None, None, tmp_path, seed=0, budget=FAST, show_progress=False)
    assert isinstance(first, ScratchModels) and first.recipe["cached"] is False
    assert first.recipe["labels"].startswith("none") and first.train_seconds["stage1"] > 0
    SentenceTransformer(str(first.encoder_path), device="cpu")
    CrossEncoder(str(first.reranker_path), device="cpu")
    assert (first.reranker_path / "calibration.json").exists()
    stamp = (first.reranker_path / "model.safetensors").stat().st_mtime_ns

    second = scratch_models(Path("toy"), RECORDS, None, None, tmp_path, seed=0, budget=FAST, show_progress=False)
    assert second.recipe["cached"] is True
    assert (second.encoder_path, second.reranker_path) == (first.encoder_path, first.reranker_path)
    assert second.train_seconds == first.train_seconds
    assert (second.reranker_path / "model.safetensors").stat().st_mtime_ns == stamp


def test_fingerprint_depends_on_corpus_and_train_labels():
    docs = read_corpus(RECORDS)
    base = data_fingerprint(docs, None, None)
    edited = read_corpus([dict(RECORDS[0], text="changed"), *RECORDS[1:]])
    assert data_fingerprint(edited, None, None) != base
    assert data_fingerprint(docs, {"q": "x"}, {"q": {"d1": 1}}) != base
    assert data_fingerprint(docs, {"q": "x"}, {"q": {"d1": 1}}) != data_fingerprint(docs, {"q": "x"}, {"q": {"d2": 1}})


def test_cache_key_follows_only_what_the_run_uses():
    from dataclasses import replace

    corpus_recipe = replace(FAST, corpus_bi_encoder=FAST.bi_encoder.replace(members=2))
    other_labelled = replace(corpus_recipe, bi_encoder=FAST.bi_encoder.replace(epochs=2))
    # With labels the corpus-only stage 1 is unused; without labels the labelled one is.
    assert cache_key(FAST, True, 0, "data") == cache_key(corpus_recipe, True, 0, "data")
    assert cache_key(corpus_recipe, False, 0, "data") == cache_key(other_labelled, False, 0, "data")
    assert cache_key(corpus_recipe, True, 0, "data") != cache_key(other_labelled, True, 0, "data")
    assert cache_key(FAST, False, 0, "data") != cache_key(corpus_recipe, False, 0, "data")
    assert cache_key(replace(FAST, refit_stage1=True), False, 0, "data") == cache_key(FAST, False, 0, "data")
    assert cache_key(replace(FAST, refit_stage1=True), True, 0, "data") != cache_key(FAST, True, 0, "data")
    assert cache_key(FAST, True, 0, "data") != cache_key(FAST, True, 1, "data") != cache_key(FAST, True, 1, "other")
    slow = replace(FAST, cross_encoder=replace(FAST.cross_encoder, embedding_learning_rate=1e-3))
    assert cache_key(slow, True, 0, "data") != cache_key(FAST, True, 0, "data")
    # The corpus-only reranker recipe is unused with labels, and replaces the labelled one without.
    residual = replace(FAST, corpus_cross_encoder=replace(FAST.cross_encoder, stage1_offset=1.0))
    assert cache_key(residual, True, 0, "data") == cache_key(FAST, True, 0, "data")
    assert cache_key(residual, False, 0, "data") != cache_key(FAST, False, 0, "data")
    same = replace(FAST, corpus_cross_encoder=FAST.cross_encoder)
    assert cache_key(same, False, 0, "data") == cache_key(FAST, False, 0, "data")
    # One reranker per vocabulary is a corpus-only option: the labelled key ignores it.
    per_vocabulary = replace(FAST, reranker_per_vocabulary=True)
    assert cache_key(per_vocabulary, True, 0, "data") == cache_key(FAST, True, 0, "data")
    assert cache_key(per_vocabulary, False, 0, "data") != cache_key(FAST, False, 0, "data")


def test_cache_keys_stay_put_when_an_option_is_added_at_its_old_behaviour():
    from rerank.train.recipe import DEFAULT, PRESETS

    assert PRESETS == {"default": DEFAULT, "fast": FAST}
    # Pinned: a change here makes every user's cached models train again. Make it on purpose (a new
    # RECIPE_VERSION), not as a side effect of a config field added or removed (see the cache module).
    assert cache_key(FAST, True, 0, "data") == "e3733c25fb4662ed"
    assert cache_key(DEFAULT, True, 0, "data") == "e7cd5b8ed7d90bc5"
    assert cache_key(DEFAULT, False, 0, "data") == "8425814b731bbe96"


def test_searcher_uses_the_scratch_models(cache_dir):
    from retrieval import Encoder, Searcher, build_index

    made = scratch_models(Path("toy"), RECORDS, None, None, cache_dir, seed=0, budget=FAST, show_progress=False)
    encoder = Encoder.load(str(made.encoder_path), device="cpu")
    index = build_index(RECORDS, encoder, show_progress=False)
    try:
        from rerank.cross_encoder import CrossEncoderReranker
    except ImportError:
        pytest.skip("rerank.cross_encoder (the reranker backend) is not in this checkout")
    reranker = CrossEncoderReranker.load(str(made.reranker_path))
    hits = Searcher(index, encoder, reranker=reranker, candidates=10).query("protein folding", k=5)
    assert len(hits) == 5 and all(h.stage1_rank is not None for h in hits)


def test_labelled_recipe_holds_stage2_validation_queries_out_of_stage1(tmp_path):
    import json

    queries = {f"q{i}": f"notes on {TOPICS[i % 5]} item {i}" for i in range(20)}
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(20)}
    made = scratch_models(Path("toy"), RECORDS, queries, qrels, tmp_path, seed=0, budget=FAST, show_progress=False)
    held = set(made.recipe["held_out_of_stage1"])
    assert held and held < set(qrels)
    # Stage 1 trained on the other queries' pairs only; stage 2 validated on exactly the held-out ones.
    assert made.recipe["stage1_pairs"]["labelled"] == len(qrels) - len(held)
    calibration = json.loads((made.reranker_path / "calibration.json").read_text())
    assert calibration["fusion"]["queries"] <= len(held) and "stage1_weight" in calibration


def test_refit_stage1_keeps_the_weight_on_its_own_z_scale(tmp_path):
    import json
    from dataclasses import replace

    from rerank import CrossEncoderReranker

    queries = {f"q{i}": f"notes on {TOPICS[i % 5]} item {i}" for i in range(20)}
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(20)}
    kept = scratch_models(Path("toy"), RECORDS, queries, qrels, tmp_path / "a", seed=0, budget=FAST, show_progress=False)
    budget = replace(FAST, refit_stage1=True)
    made = scratch_models(Path("toy"), RECORDS, queries, qrels, tmp_path / "b", seed=0, budget=budget, show_progress=False)
    summary = json.loads((made.encoder_path / "train_summary.json").read_text())
    assert summary["pairs"]["labelled"] == len(qrels), "the saved stage 1 is the one refit on every labelled query"
    assert made.recipe["stage1_refit_on_all_labels"] and "stage1_refit" in made.train_seconds
    held_out = json.loads((kept.reranker_path / "calibration.json").read_text())
    calibration = json.loads((made.reranker_path / "calibration.json").read_text())
    # Same seed and data: the same held-out stage 1 and reranker, so the same weight and thresholds ...
    for key in ("stage1_weight", "threshold", "thresholds"):
        assert calibration[key] == held_out[key]
    # ... but the standardisation moves to the refit stage 1's scale, measured on queries neither trained on.
    assert calibration["stage1_before"] == {"stage1_mean": held_out["stage1_mean"], "stage1_std": held_out["stage1_std"]}
    transfer = calibration["stage1_transfer"]
    assert transfer["queries"] > 0 and transfer["scale"] > 0
    assert calibration["stage1_std"] == pytest.approx(transfer["scale"] * held_out["stage1_std"])
    assert calibration["stage1_mean"] == pytest.approx(transfer["scale"] * held_out["stage1_mean"] + transfer["shift"])
    assert (calibration["stage1_mean"], calibration["stage1_std"]) != (held_out["stage1_mean"], held_out["stage1_std"])
    assert CrossEncoderReranker.load(str(made.reranker_path)).stage1_weight == calibration["stage1_weight"]
    assert not (made.encoder_path.parent / "encoder-heldout").exists()


def test_recipe_reproduces_from_the_tokenizer_up(tmp_path):
    # Same seed and data, two caches: identical tokenizer, stage 1 and stage 2, byte for byte.
    runs = [
        scratch_models(Path("toy"), RECORDS, None, None, tmp_path / name, seed=0, budget=FAST, show_progress=False)
        for name in ("a", "b")
    ]
    a, b = (r.encoder_path.parent for r in runs)
    for part in ("tokenizer/tokenizer.json", "encoder/model.safetensors", "reranker/model.safetensors", "reranker/calibration.json"):
        assert (a / part).read_bytes() == (b / part).read_bytes(), part


def test_restandardise_carries_the_z_scale_through_an_affine_map(tmp_path):
    import json

    from rerank.fusion import stage1_z
    from rerank.train.fusion import restandardise_stage1

    (tmp_path / "calibration.json").write_text(json.dumps({"threshold": 0.5, "stage1_weight": 1.5, "stage1_mean": 0.3, "stage1_std": 0.1}))
    before = [[0.9, 0.5, 0.2], [0.7, 0.1]]
    after = [[2 * s + 1 for s in lst] for lst in before]  # the new stage 1: twice the spread, shifted
    calibration = restandardise_stage1(tmp_path, before, after)
    assert calibration["stage1_weight"] == 1.5 and calibration["stage1_before"] == {"stage1_mean": 0.3, "stage1_std": 0.1}
    # A score maps to the same z before and after: the weight means what it meant.
    for score in (0.9, 0.25):
        old = stage1_z([score], 0.3, 0.1)[0]
        new = stage1_z([2 * score + 1], calibration["stage1_mean"], calibration["stage1_std"])[0]
        assert new == pytest.approx(old)
    assert json.loads((tmp_path / "calibration.json").read_text()) == calibration
    with pytest.raises(ValueError, match="same unseen queries"):
        restandardise_stage1(tmp_path, [[]], after)


def test_recipe_trains_stage2_as_a_residual_of_a_stage1_that_did_not_see_the_query(tmp_path):
    import json
    from dataclasses import replace

    budget = replace(FAST, corpus_cross_encoder=replace(FAST.cross_encoder, stage1_offset=1.5))
    made = scratch_models(Path("toy"), RECORDS, None, None, tmp_path / "c", seed=0, budget=budget, show_progress=False)
    trained_with = json.loads((made.reranker_path / "train_config.json").read_text())
    assert trained_with["stage1_offset"] == 1.5 and made.recipe["budget"]["cross_encoder"]["stage1_offset"] == 1.5
    assert "stage1_cross_fit" not in made.train_seconds  # pseudo-queries: stage 1 never trained on them
    # With labels the recipe's stage 1 trained on the rows' queries: a cross-fitted one scores them.
    queries = {f"q{i}": f"notes on {TOPICS[i % 5]} item {i}" for i in range(20)}
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(20)}
    labelled = replace(FAST, cross_encoder=replace(FAST.cross_encoder, stage1_offset=1.5), residual_folds=3)
    made = scratch_models(Path("toy"), RECORDS, queries, qrels, tmp_path / "l", seed=0, budget=labelled, show_progress=False)
    assert made.train_seconds["stage1_cross_fit"] > 0
    assert not list(made.encoder_path.parent.glob("encoder-fold*"))  # the fold models are not kept
    assert json.loads((made.reranker_path / "train_config.json").read_text())["stage1_offset"] == 1.5
    assert "stage2_cross_validation" not in made.train_seconds  # off unless asked for
    assert cache_key(labelled, True, 0, "d") != cache_key(replace(labelled, residual_folds=2), True, 0, "d")
    assert cache_key(replace(FAST, residual_folds=3), True, 0, "d") == cache_key(FAST, True, 0, "d")
    with pytest.raises(ValueError, match="residual_folds"):
        replace(FAST, residual_folds=1)


def test_cross_validated_weight_is_chosen_on_every_labelled_query(tmp_path):
    import json
    from dataclasses import replace

    queries = {f"q{i}": f"notes on {TOPICS[i % 5]} item {i}" for i in range(20)}
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(20)}
    budget = replace(FAST, cross_encoder=replace(FAST.cross_encoder, stage1_offset=1.5), cross_validate_weight=True)
    made = scratch_models(Path("toy"), RECORDS, queries, qrels, tmp_path, seed=0, budget=budget, show_progress=False)
    held = set(made.recipe["held_out_of_stage1"])
    fusion = json.loads((made.reranker_path / "calibration.json").read_text())["fusion"]
    # Every query stage 1 trained on was scored by a fold reranker that did not train on it.
    assert fusion["cross_validated_queries"] == len(qrels) - len(held)
    assert fusion["queries"] == len(qrels)
    assert made.train_seconds["stage2_cross_validation"] > 0
    assert not list(made.reranker_path.parent.glob("reranker-fold*"))  # the fold rerankers are not kept
    # Only a labelled residual recipe cross-validates, so only its key moves.
    assert cache_key(budget, True, 0, "d") != cache_key(replace(budget, cross_validate_weight=False), True, 0, "d")
    assert cache_key(replace(FAST, cross_validate_weight=True), True, 0, "d") == cache_key(FAST, True, 0, "d")
    assert cache_key(budget, False, 0, "d") == cache_key(replace(budget, cross_validate_weight=False), False, 0, "d")


def test_sentence_scores_are_fused_from_each_lists_own_stage1_and_carried_to_the_refit_one(tmp_path, monkeypatch):
    import functools
    import json
    from dataclasses import replace

    import rerank.train.stage1_weight as stage1_weight
    from rerank import CrossEncoderReranker
    from retrieval import Encoder, Searcher, build_index

    # Toy lists rank perfectly at every weight and ties go to weight 0: narrow the sentence grid to
    # one positive weight so that its transfer to the refit stage 1 runs.
    monkeypatch.setattr(
        stage1_weight, "choose_stage1_weight", functools.partial(stage1_weight.choose_stage1_weight, sentence_grid=(0.5,))
    )
    queries = {f"q{i}": f"notes on {TOPICS[i % 5]} item {i}" for i in range(20)}
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(20)}
    budget = replace(
        FAST, cross_encoder=replace(FAST.cross_encoder, stage1_offset=1.5, fuse_sentences=True),
        cross_validate_weight=True, refit_stage1=True,
    )
    made = scratch_models(Path("toy"), RECORDS, queries, qrels, tmp_path, seed=0, budget=budget, show_progress=False)
    calibration = json.loads((made.reranker_path / "calibration.json").read_text())
    fusion = calibration["fusion"]
    assert fusion["queries"] == len(qrels) and len(fusion["joint_grid"]) == len(fusion["grid"])
    assert calibration["sentence_weight"] > 0 and calibration["sentence_std"] > 0
    before, transfer = calibration["sentence_before"], calibration["sentence_transfer"]
    assert transfer["queries"] > 0 and calibration["sentence_std"] == pytest.approx(transfer["scale"] * before["sentence_std"])
    encoder = Encoder.load(str(made.encoder_path), device="cpu")
    reranker = CrossEncoderReranker.load(str(made.reranker_path))
    hits = Searcher(build_index(RECORDS, encoder, show_progress=False), encoder, reranker=reranker, candidates=10).query(
        "protein folding", k=3
    )
    assert len(hits) == 3 and all(h.sentence_score is not None for h in hits)
    # The option is in the key only when on, so the recipes without it keep their cached models.
    assert cache_key(budget, True, 0, "d") != cache_key(
        replace(budget, cross_encoder=replace(budget.cross_encoder, fuse_sentences=False)), True, 0, "d"
    )


def test_corpus_recipe_trains_a_reranker_per_vocabulary_and_searches_with_their_mean(tmp_path):
    """Without labels and with an ensemble stage 1, stage 2 is one reranker per vocabulary: each an ordinary
    CrossEncoder folder, the part on the recipe's tokenizer the one the recipe trains without the option, and
    the ensemble's score the activation of the parts' mean fused logit, with its own fitted threshold."""
    import json
    from dataclasses import replace

    import numpy as np
    from sentence_transformers import CrossEncoder

    from rerank import CrossEncoderReranker
    from rerank.reranker_ensemble import RerankerEnsemble
    from retrieval import Searcher, build_index
    from retrieval.encoder import Encoder

    ensemble_recipe = replace(
        FAST, corpus_bi_encoder=FAST.bi_encoder.replace(vocab_sizes=(120,)),
        corpus_cross_encoder=replace(FAST.cross_encoder, stage1_offset=1.0), reranker_per_vocabulary=True,
    )
    made = scratch_models(Path("toy"), RECORDS, None, None, tmp_path, budget=ensemble_recipe, show_progress=False)
    spec = json.loads((made.reranker_path / "reranker_ensemble.json").read_text())
    assert spec["parts"] == ["main", "vocab-120"]
    for part in spec["parts"]:
        CrossEncoder(str(made.reranker_path / part), device="cpu")
    assert not list(made.reranker_path.parent.glob(".tokenizer-*"))  # the parts keep their own tokenizers
    single = scratch_models(
        Path("toy"), RECORDS, None, None, tmp_path, budget=replace(ensemble_recipe, reranker_per_vocabulary=False),
        show_progress=False,
    )
    main_part = (made.reranker_path / "main" / "model.safetensors").read_bytes()
    assert main_part == (single.reranker_path / "model.safetensors").read_bytes()

    reranker = CrossEncoderReranker.load(str(made.reranker_path), device="cpu")
    assert isinstance(reranker, RerankerEnsemble) and len(reranker.parts) == 2
    assert reranker.threshold == json.loads((made.reranker_path / "calibration.json").read_text())["threshold"]
    encoder = Encoder.load(str(made.encoder_path), device="cpu")
    index = build_index(RECORDS, encoder, show_progress=False)
    hits = Searcher(index, encoder).query("protein folding", k=5)
    alone = [p.fused_logits(["protein folding"], [hits])[0] for p in reranker.parts]
    mean = ((alone[0] + alone[1]) / 2).reshape(-1)
    np.testing.assert_allclose(reranker.score(["protein folding"], [hits])[0], 1 / (1 + np.exp(-mean)), rtol=1e-9)
    assert not np.allclose(alone[0], alone[1])  # two vocabularies, two different rerankers
    reranked = Searcher(index, encoder, reranker=reranker).query("protein folding", k=5, candidates=10)
    assert [h.score for h in reranked] == sorted((h.score for h in reranked), reverse=True)
