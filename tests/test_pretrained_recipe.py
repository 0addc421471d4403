"""The pretrained recipe, how a benchmark run picks its models, the published-figure check and the embedding cache.

The recipe's end-to-end test fine-tunes the real packaged all-MiniLM-L6-v2 on a tiny SciFact slice
(skipped where the package is not installed); the rest swap the recipes for fakes that record
their calls, so they test which models a run pairs, not the training.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks.config import BenchmarkConfig, load_config
from benchmarks.harness import check_references
from benchmarks.models import FROM_SCRATCH, PRETRAINED_FINE_TUNED, MissingModelError, resolve_models
from rerank.train.pretrained_recipe import DEFAULT, FAST, PretrainedModels, cache_key

HUB = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def minilm() -> Path:
    """The packaged all-MiniLM-L6-v2's verified folder (skips where the package is not installed)."""
    from retrieval.pretrained import PackageNotInstalledError, ensure_model

    try:
        return Path(ensure_model(HUB))
    except PackageNotInstalledError as exc:
        pytest.skip(f"the packaged {HUB} is not installed: {exc}")


@pytest.fixture()
def no_pretrained(monkeypatch, tmp_path):
    """As if the packaged model were not installed: an empty hub cache and no package."""
    import huggingface_hub.constants

    import retrieval.pretrained

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    monkeypatch.setattr(retrieval.pretrained, "package_archive", lambda model: None)


@pytest.fixture(scope="module")
def tiny_scifact(shared_dir):
    """20 SciFact abstracts and 8 train queries whose relevant abstracts are among them."""
    from indexes import read_corpus
    from retrieval.train.data import read_train_split

    folder = shared_dir / "datasets" / "scifact"
    if not folder.exists():
        pytest.skip(f"{folder} not found")
    queries, qrels = read_train_split(folder, "train")
    qids = sorted(qrels)[:8]
    needed = {d for q in qids for d in qrels[q]}
    docs = read_corpus(folder)
    chosen = [d for d in docs if d.doc_id in needed] + [d for d in docs if d.doc_id not in needed][: 20 - len(needed)]
    return chosen, {q: queries[q] for q in qids}, {q: qrels[q] for q in qids}


class _Recipes:
    """Fake recipes that record their calls and hand back folders named after themselves."""

    def __init__(self, monkeypatch, tmp_path: Path, base: Path | None = None, pretrained_error: Exception | None = None):
        import rerank.train.pretrained_recipe as pretrained
        import rerank.train.recipe as scratch

        self.calls: list[str] = []

        def pretrained_models(base_name, corpus, train_queries, train_qrels, cache_dir, **kwargs):
            self.calls.append("pretrained")
            if pretrained_error is not None:
                raise pretrained_error
            return PretrainedModels(
                tmp_path / "ft-encoder", tmp_path / "ft-reranker", base, {"stage1": 1.0, "total": 3.0},
                {"stage1": "fine-tuned", "labels": "train qrels", "base": {"hub": HUB}},
            )

        def scratch_models(data_dir, corpus, train_queries, train_qrels, cache_dir, **kwargs):
            self.calls.append("scratch")
            return scratch.ScratchModels(tmp_path / "scratch-encoder", tmp_path / "scratch-reranker", {"total": 2.0}, {})

        monkeypatch.setattr(pretrained, "pretrained_models", pretrained_models)
        monkeypatch.setattr(scratch, "scratch_models", scratch_models)


def replace_namespace(ns: SimpleNamespace, **changes) -> SimpleNamespace:
    return SimpleNamespace(**{**vars(ns), **changes})


def _run(tmp_path: Path, **options) -> tuple[BenchmarkConfig, SimpleNamespace]:
    config = BenchmarkConfig(dataset="tiny", cache_dir=str(tmp_path / "cache"), **options)
    dataset = SimpleNamespace(name="tiny", corpus=[], train_queries={"q": "x"}, train_qrels={"q": {"d": 1}})
    return config, dataset


# --- which models a run pairs -------------------------------------------------------------------


def test_with_the_pretrained_model_both_stages_come_from_the_pretrained_recipe(minilm, monkeypatch, tmp_path):
    recipes = _Recipes(monkeypatch, tmp_path, base=minilm)
    choice = resolve_models(*_run(tmp_path))
    assert recipes.calls == ["pretrained"]
    assert (choice.encoder, choice.reranker) == (str(tmp_path / "ft-encoder"), str(tmp_path / "ft-reranker"))
    assert choice.origin == {"encoder": PRETRAINED_FINE_TUNED, "reranker": PRETRAINED_FINE_TUNED}
    assert choice.path == PRETRAINED_FINE_TUNED and choice.train_seconds["total"] == 3.0
    assert choice.pretrained == str(minilm) and choice.names["pretrained"] == HUB  # the zero-shot stage's model


def test_without_the_pretrained_model_both_stages_come_from_scratch(no_pretrained, monkeypatch, tmp_path):
    recipes = _Recipes(monkeypatch, tmp_path)
    choice = resolve_models(*_run(tmp_path))
    assert recipes.calls == ["scratch"]
    assert (choice.encoder, choice.reranker) == (str(tmp_path / "scratch-encoder"), str(tmp_path / "scratch-reranker"))
    assert choice.origin == {"encoder": "scratch", "reranker": "scratch"} and choice.path == FROM_SCRATCH
    assert choice.pretrained is None and "PackageNotInstalledError" in choice.fallback


def test_a_pretrained_recipe_that_cannot_load_falls_back_to_scratch_for_both(minilm, monkeypatch, tmp_path):
    from retrieval.errors import ModelLoadError

    recipes = _Recipes(monkeypatch, tmp_path, base=minilm, pretrained_error=ModelLoadError("no such model"))
    choice = resolve_models(*_run(tmp_path))
    assert recipes.calls == ["pretrained", "scratch"]
    assert (choice.encoder, choice.reranker) == (str(tmp_path / "scratch-encoder"), str(tmp_path / "scratch-reranker"))
    assert choice.path == FROM_SCRATCH and "no such model" in choice.fallback


def test_a_given_encoder_is_never_paired_with_a_reranker_a_recipe_trained(minilm, monkeypatch, tmp_path):
    recipes = _Recipes(monkeypatch, tmp_path, base=minilm)
    with pytest.raises(MissingModelError, match="never paired with another encoder"):
        resolve_models(*_run(tmp_path, encoder=str(minilm)))
    config, dataset = _run(tmp_path)
    with pytest.raises(MissingModelError, match="--reranker PATH"):  # the caller's own encoder object
        resolve_models(config, dataset, need_encoder=False, need_reranker=True)
    assert recipes.calls == []


def test_without_a_reranker_stage_the_packaged_encoder_is_used_as_it_is(minilm, monkeypatch, tmp_path):
    recipes = _Recipes(monkeypatch, tmp_path, base=minilm)
    choice = resolve_models(*_run(tmp_path, stages=("bm25", "dense-pretrained", "dense")))
    assert recipes.calls == [] and choice.encoder == choice.pretrained == str(minilm)
    assert choice.origin == {"encoder": "packaged"} and choice.names["encoder"] == HUB and choice.path == "hub"


def test_a_given_folder_of_the_packaged_model_is_named_by_its_hub_name(minilm, tmp_path):
    choice = resolve_models(*_run(tmp_path, encoder=str(minilm), stages=("dense",)))
    assert choice.origin == {"encoder": "given"} and choice.names["encoder"] == HUB


# --- the published-figure check -----------------------------------------------------------------


def test_the_published_check_recognises_the_packaged_model_by_its_files(minilm, tmp_path):
    references = load_config("scifact").references
    models = {"names": {"pretrained": str(minilm), "encoder": str(tmp_path)}}  # folders: by their files' sha256
    stages = {"dense-pretrained": {"ndcg@10": 0.6451, "recall@100": 0.9250}, "dense": {"ndcg@10": 0.6451, "recall@100": 0.925}}
    status = {(r["stage"], r["metric"]): r["status"] for r in check_references(references, stages, models, "test")}
    assert status[("dense-pretrained", "ndcg@10")] == status[("dense-pretrained", "recall@100")] == "within"
    assert status[("dense", "ndcg@10")] == f"n/a (run used {tmp_path})"  # an unknown folder
    stages["dense-pretrained"] = {"ndcg@10": 0.62, "recall@100": 0.95}
    status = {(r["stage"], r["metric"]): r["status"] for r in check_references(references, stages, models, "test")}
    assert status[("dense-pretrained", "ndcg@10")] == status[("dense-pretrained", "recall@100")] == "outside"


# --- the recipe ---------------------------------------------------------------------------------


def test_the_cache_key_is_stable_and_moves_with_what_changes_the_models():
    base = {"hub": HUB, "revision": "r1"}
    key = cache_key(DEFAULT, True, 0, base, "data")
    assert key == cache_key(replace(DEFAULT, name="renamed"), True, 0, dict(base), "data")
    moved = [
        cache_key(replace(DEFAULT, cross_encoder=DEFAULT.cross_encoder.replace(learning_rate=3e-5)), True, 0, base, "data"),
        cache_key(replace(DEFAULT, bi_encoder=DEFAULT.bi_encoder.replace(epochs=3)), True, 0, base, "data"),
        cache_key(DEFAULT, True, 1, base, "data"),
        cache_key(DEFAULT, True, 0, {**base, "revision": "r2"}, "data"),
        cache_key(DEFAULT, True, 0, base, "other data"),
        cache_key(DEFAULT, False, 0, base, "data"),
    ]
    assert len({key, *moved}) == 7
    # settings a run does not read leave its key alone
    assert cache_key(replace(DEFAULT, pseudo_limit=10), True, 0, base, "data") == key
    corpus_only = cache_key(DEFAULT, False, 0, base, "data")
    assert cache_key(replace(DEFAULT, bi_encoder=DEFAULT.bi_encoder.replace(epochs=5)), False, 0, base, "data") == corpus_only
    # pinned: a change that moves it retrains every cached model, so it is made on purpose (PRETRAINED_RECIPE_VERSION)
    assert key == "ab7bd80c00a81f19"
    # the recipe before the head option (BERT [CLS] head, one-SE rule) keeps the key it had
    before = replace(DEFAULT, cross_encoder=DEFAULT.cross_encoder.replace(head="cls", weight_rule="one-se"))
    assert cache_key(before, True, 0, base, "data") == "6a78a05ca0bc8fe4"


# Smaller than FAST: 32-token texts, so that the real model trains in seconds.
TINY = replace(
    FAST, name="tiny", bi_encoder=FAST.bi_encoder.replace(max_seq_length=32),
    cross_encoder=FAST.cross_encoder.replace(max_length=48),
)


def test_the_recipe_fine_tunes_both_stages_from_the_packaged_model(minilm, tiny_scifact, tmp_path):
    from rerank import CrossEncoderReranker
    from rerank.train.pretrained_recipe import cached_pretrained_models, pretrained_models
    from retrieval import Encoder
    from retrieval.encoder_manifest import weights_fingerprint
    from retrieval.types import Hit

    docs, queries, qrels = tiny_scifact
    assert cached_pretrained_models(HUB, docs, queries, qrels, tmp_path, budget=TINY) is None  # never trains
    assert not any(tmp_path.iterdir())
    made = pretrained_models(HUB, docs, queries, qrels, tmp_path, budget=TINY, show_progress=False)
    recipe = made.recipe
    assert recipe["base"] == {"name": HUB, "hub": HUB, "revision": "1110a243fdf4706b3f48f1d95db1a4f5529b4d41"}
    assert recipe["stage1"] == "fine-tuned" and made.encoder_path == tmp_path / recipe["key"] / "encoder"
    held = set(recipe["held_out_of_stage1"])
    assert held and held < set(qrels) and recipe["stage1_pairs"]["triplets"] >= 2
    encoder = Encoder.load(str(made.encoder_path), device="cpu")
    assert encoder.dim == 384 and weights_fingerprint(encoder) != weights_fingerprint(Encoder.load(str(minilm), device="cpu"))
    calibration = json.loads((made.reranker_path / "calibration.json").read_text())
    assert {"threshold", "stage1_weight", "stage1_mean", "stage1_std"} <= set(calibration)
    reranker = CrossEncoderReranker.load(str(made.reranker_path), device="cpu")
    assert reranker.num_labels == 1 and reranker.max_length == 48 and reranker.stage1_weight == calibration["stage1_weight"]
    hits = [Hit(d.doc_id, 0.5 - i / 10, i + 1, d.title, d.text, stage1_score=0.5 - i / 10) for i, d in enumerate(docs[:3])]
    (scores,) = reranker.score([next(iter(queries.values()))], [hits])
    assert len(scores) == 3 and all(0.0 <= s <= 1.0 for s in scores)
    again = pretrained_models(HUB, docs, queries, qrels, tmp_path, budget=TINY, show_progress=False)
    assert again.recipe["cached"] and (again.encoder_path, again.reranker_path) == (made.encoder_path, made.reranker_path)
    # What the speed benchmarks use to find the main job's models: the same folder, other seeds not.
    found = cached_pretrained_models(HUB, docs, queries, qrels, tmp_path, budget=TINY)
    assert found is not None and found.reranker_path == made.reranker_path
    assert cached_pretrained_models(HUB, docs, queries, qrels, tmp_path, seed=1, budget=TINY) is None


def test_without_labels_stage_1_stays_the_base_and_no_cross_encoder_is_trained(minilm, tiny_scifact, tmp_path):
    from rerank.train.pretrained_recipe import pretrained_models

    docs, _, _ = tiny_scifact
    made = pretrained_models(HUB, docs, None, None, tmp_path, budget=TINY, show_progress=False)
    assert made.recipe["stage1"] == "base" and made.encoder_path == made.base_path == minilm
    assert made.recipe["labels"] == "none (corpus only)" and made.recipe["stage2"] == "none"
    assert made.reranker_path is None and not (tmp_path / made.recipe["key"] / "reranker").exists()
    again = pretrained_models(HUB, docs, None, None, tmp_path, budget=TINY, show_progress=False)
    assert again.recipe["cached"] and again.reranker_path is None and again.encoder_path == minilm


@pytest.mark.slow
def test_a_budget_with_a_corpus_cross_encoder_trains_it_on_pseudo_queries(minilm, tiny_scifact, tmp_path):
    from rerank.train.pretrained_recipe import pretrained_models

    docs, _, _ = tiny_scifact
    budget = replace(TINY, corpus_cross_encoder=TINY.cross_encoder)
    made = pretrained_models(HUB, docs, None, None, tmp_path, budget=budget, show_progress=False)
    assert made.recipe["stage1"] == "base" and made.recipe["stage2_rows"]["train"] > 0
    assert (made.reranker_path / "calibration.json").exists()


def test_a_corpus_only_run_scores_no_rerank_stage_and_says_why(minilm, monkeypatch, tmp_path):
    import rerank.train.pretrained_recipe as pretrained

    def corpus_only(base_name, corpus, train_queries, train_qrels, cache_dir, **kwargs):
        return PretrainedModels(minilm, None, minilm, {"total": 1.0}, {"stage1": "base", "stage2": "none"})

    monkeypatch.setattr(pretrained, "pretrained_models", corpus_only)
    config, dataset = _run(tmp_path)
    choice = resolve_models(config, replace_namespace(dataset, train_queries=None, train_qrels=None))
    assert choice.encoder == str(minilm) and choice.reranker is None
    assert choice.origin == {"encoder": "pretrained (zero-shot)"} and "reranker" not in choice.names


# --- embeddings cached by content ---------------------------------------------------------------


def test_corpus_embeddings_are_cached_by_content(tiny_encoder, toy_corpus, tmp_path, monkeypatch):
    from benchmarks.embeddings import cached_index
    from indexes import read_corpus

    docs = read_corpus(toy_corpus)
    encoded: list[int] = []
    original = tiny_encoder.encode_documents

    def counting(texts, show_progress=True):
        encoded.append(len(texts))
        return original(texts, show_progress=show_progress)

    monkeypatch.setattr(tiny_encoder, "encode_documents", counting)
    first = cached_index(docs, tiny_encoder, tmp_path, show_progress=False)
    assert len(docs) in encoded
    encoded.clear()
    second = cached_index(docs, tiny_encoder, tmp_path, show_progress=False)
    assert len(docs) not in encoded  # read back: only the one-text probe that checks the encoder
    query = tiny_encoder.encode_queries(["passage on topic"])
    assert [(d.doc_id, round(s, 5)) for d, s in first.search(query, 5)[0]] == [
        (d.doc_id, round(s, 5)) for d, s in second.search(query, 5)[0]
    ]
    changed = [replace(docs[0], text=docs[0].text + " changed"), *docs[1:]]
    cached_index(changed, tiny_encoder, tmp_path, show_progress=False)
    assert len(docs) in encoded and len(list(tmp_path.iterdir())) == 2
