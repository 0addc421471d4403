"""Training both stages on tiny data: seeds reproduce, outputs load as ordinary models and plug in."""

from __future__ import annotations

import json

import numpy as np
import pytest

from indexes import read_corpus
from rerank.train.config import CrossEncoderConfig
from retrieval.train.config import BiEncoderConfig

TOPICS = ["faiss vector search", "protein folding", "climate models", "football scores", "jazz music"]
TINY_BERT = {"num_hidden_layers": 1, "hidden_size": 16, "num_attention_heads": 1, "intermediate_size": 32}


@pytest.fixture(scope="module")
def docs():
    return read_corpus(
        [
            {
                "_id": f"d{i}",
                "title": f"{TOPICS[i % 5]} note {i}",
                "text": f"Passage {i} is about {TOPICS[i % 5]}. It mentions item {i} once. "
                f"Another sentence covers {TOPICS[i % 5]} again.",
            }
            for i in range(30)
        ]
    )


@pytest.fixture(scope="module")
def labels():
    queries = {f"q{i}": f"what about {TOPICS[i % 5]} item {i}" for i in range(12)}
    return queries, {f"q{i}": {f"d{i}": 1} for i in range(12)}


def _bi_config(tokenizer_dir, seed):
    return BiEncoderConfig(tokenizer=str(tokenizer_dir), dim=16, epochs=1, batch_size=8, seed=seed, depth=10)


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


@pytest.fixture(scope="module")
def bi_runs(tmp_path_factory, tokenizer_dir, docs, labels):
    from retrieval.train import train_bi_encoder

    root = tmp_path_factory.mktemp("bi")
    queries, qrels = labels
    return {
        name: train_bi_encoder(docs, root / name, _bi_config(tokenizer_dir, seed), queries, qrels, show_progress=False)
        for name, seed in (("a", 0), ("b", 0), ("c", 1))
    }


def test_bi_encoder_seed_reproduces_and_differs(bi_runs):
    from sentence_transformers import SentenceTransformer

    a, b, c = (_weights(SentenceTransformer(str(bi_runs[n].path), device="cpu")) for n in "abc")
    assert _same(a, b), "same seed and data must give identical weights"
    assert not _same(a, c), "another seed must give other weights"
    assert [r["loss"] for r in bi_runs["a"].loss_history] == [r["loss"] for r in bi_runs["b"].loss_history]
    assert bi_runs["a"].pairs["labelled"] == 12 and bi_runs["a"].pairs["corpus"] > 0
    assert bi_runs["a"].pairs["triplets"] > 0


def test_bi_encoder_loads_and_indexes(bi_runs, docs):
    from retrieval import Encoder, Searcher, build_index

    encoder = Encoder.load(str(bi_runs["a"].path), device="cpu")
    index = build_index(docs, encoder, show_progress=False)
    hits = Searcher(index, encoder).query("protein folding", k=3)
    assert len(hits) == 3
    saved = BiEncoderConfig.load(bi_runs["a"].path / "train_config.json")
    assert saved.seed == 0 and saved.dim == 16


def test_members_join_the_seeds_side_by_side(tmp_path, tokenizer_dir, bi_runs, docs, labels):
    from sentence_transformers import SentenceTransformer

    from retrieval import document_text
    from retrieval.train import train_bi_encoder

    queries, qrels = labels
    joined = train_bi_encoder(
        docs, tmp_path / "j", _bi_config(tokenizer_dir, 0).replace(members=2), queries, qrels, show_progress=False
    )
    model = SentenceTransformer(str(joined.path), device="cpu")
    weight = model[0].embedding.weight.detach().numpy()
    assert weight.shape[1] == 32 and joined.pairs["members"] == 2
    texts = [document_text(d) for d in docs]
    for half, name in ((weight[:, :16], "a"), (weight[:, 16:], "c")):  # seeds 0 and 1 alone
        member = SentenceTransformer(str(bi_runs[name].path), device="cpu")
        length = np.linalg.norm(member.encode(texts, convert_to_numpy=True), axis=1).mean()
        np.testing.assert_allclose(half * length, member[0].embedding.weight.detach().numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="StaticEmbedding"):
        BiEncoderConfig(architecture="transformer", members=2)


def test_corpus_anchors_cover_every_member(docs):
    from retrieval.train.pairs import corpus_pairs
    from retrieval.train import corpus_anchors

    config = BiEncoderConfig(sentences_per_doc=1, use_titles=False, members=2, seed=3)
    by_seed = [{p.anchor for p in corpus_pairs(docs, 1, False, seed=s)} for s in (3, 4)]
    assert by_seed[0] != by_seed[1], "the members must draw different sentences for this test to mean anything"
    assert corpus_anchors(docs, config) == by_seed[0] | by_seed[1]


@pytest.fixture(scope="module")
def ce_data(bi_runs, docs, labels):
    from rerank.train import stage2_examples
    from retrieval import Encoder, build_index

    encoder = Encoder.load(str(bi_runs["a"].path), device="cpu")
    index = build_index(docs, encoder, show_progress=False)
    queries, qrels = labels
    return stage2_examples(docs, encoder, index, _ce_config(None, 0), queries, qrels)


def _ce_config(tokenizer_dir, seed, **extra):
    return CrossEncoderConfig(
        tokenizer=str(tokenizer_dir) if tokenizer_dir else None, shape=TINY_BERT, max_length=48, epochs=2,
        batch_size=8, negatives_per_query=3, depth=10, validation_fraction=0.25, seed=seed, **extra,
    )


@pytest.fixture(scope="module")
def ce_runs(tmp_path_factory, tokenizer_dir, ce_data):
    from rerank.train import train_cross_encoder

    root = tmp_path_factory.mktemp("ce")
    train, val = ce_data.train, ce_data.validation
    return {
        name: train_cross_encoder(train, val, root / name, _ce_config(tokenizer_dir, seed), show_progress=False)
        for name, seed in (("a", 0), ("b", 0), ("c", 1))
    }


def test_stage2_rows_use_stage1_negatives_and_split_by_query(ce_data, labels):
    train, val = ce_data.train, ce_data.validation
    _, qrels = labels
    assert not {r.query_id for r in train} & {r.query_id for r in val}
    # The held-out queries' whole candidate lists come along, labelled from the qrels.
    assert sorted(c.query_id for c in ce_data.validation_lists) == sorted({r.query_id for r in val})
    for c in ce_data.validation_lists:
        assert len(c.doc_ids) == len(c.passages) == len(c.stage1_scores) == len(c.relevant) == 10
        assert list(c.stage1_scores) == sorted(c.stage1_scores, reverse=True)
        assert [d in qrels[c.query_id] for d in c.doc_ids] == [bool(r) for r in c.relevant]
    assert {r.label for r in val} == {0, 1}
    for row in train + val:
        assert (row.doc_id in qrels[row.query_id]) == (row.label == 1)


def test_pseudo_query_lists_score_the_passage_the_reranker_sees(bi_runs, docs):
    # Without labels the positive is its document with the query sentence taken out; its stage-1 score
    # in the validation lists must be that text's, not the indexed document's (a near-copy of the query).
    from rerank.train import stage2_examples
    from retrieval import Encoder, build_index

    encoder = Encoder.load(str(bi_runs["a"].path), device="cpu")
    index = build_index(docs, encoder, show_progress=False)
    data = stage2_examples(docs, encoder, index, _ce_config(None, 0), pseudo_per_doc=1)
    indexed = {q: dict(hits) for q, hits in _ranked(encoder, index, data.validation_lists).items()}
    changed = 0
    for c in data.validation_lists:
        for d, passage, score, rel in zip(c.doc_ids, c.passages, c.stage1_scores, c.relevant):
            if not rel:
                assert score == pytest.approx(indexed[c.query_id][d], abs=1e-5)
                continue
            q = encoder.encode_queries([c.query])[0]
            v = encoder.encode_documents([passage], show_progress=False)[0]
            assert score == pytest.approx(float(q @ v / np.linalg.norm(q) / np.linalg.norm(v)), abs=1e-5)
            changed += score < indexed[c.query_id][d] - 1e-6
    assert changed > 0, "taking the sentence out should lower some positives' stage-1 scores"


def test_labelled_rows_can_add_pseudo_queries_to_training_only(bi_runs, docs, labels):
    from rerank.train import stage2_examples
    from retrieval import Encoder, build_index

    encoder = Encoder.load(str(bi_runs["a"].path), device="cpu")
    index = build_index(docs, encoder, show_progress=False)
    queries, qrels = labels
    plain = stage2_examples(docs, encoder, index, _ce_config(None, 0), queries, qrels)
    held = {r.query_id for r in plain.validation}
    excluded = {docs[0].title}
    mixed = stage2_examples(
        docs, encoder, index, _ce_config(None, 0), queries, qrels, pseudo_per_doc=1, held_out=held,
        exclude_anchors=excluded, pseudo_with_labels=5,
    )
    pseudo = [r for r in mixed.train if r.query_id.startswith("pseudo-")]
    assert 0 < len({r.query_id for r in pseudo}) <= 5 and not {r.query for r in pseudo} & excluded
    # The labelled rows and the validation split are the same as without pseudo-queries.
    assert [r for r in mixed.train if not r.query_id.startswith("pseudo-")] == plain.train
    assert mixed.validation == plain.validation and mixed.validation_lists == plain.validation_lists
    # A pseudo-query's positive is its document without the query sentence.
    for r in pseudo:
        if r.label == 1:
            assert r.query not in r.passage


def _ranked(encoder, index, lists):
    from rerank.train.data import stage1_ranked

    return stage1_ranked(encoder, index, {c.query_id: c.query for c in lists}, 10)


def test_cross_encoder_seed_reproduces_and_differs(ce_runs):
    from sentence_transformers import CrossEncoder

    a, b, c = (_weights(CrossEncoder(str(ce_runs[n].path), device="cpu")) for n in "abc")
    assert _same(a, b) and ce_runs["a"].calibration == ce_runs["b"].calibration
    history = [json.loads((ce_runs[n].path / "history.json").read_text())["evaluations"] for n in "ab"]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(history[0]) == strip(history[1])
    assert not _same(a, c)


def test_cross_encoder_outputs_calibration_history_and_loads(ce_runs, ce_data):
    from sentence_transformers import CrossEncoder

    path = ce_runs["a"].path
    calibration = json.loads((path / "calibration.json").read_text())
    assert calibration["metric"] == "f1" and calibration["activation"] == "sigmoid"
    assert set(calibration["thresholds"]) == {"f1", "accuracy", "f2", "mcc"}
    assert calibration["threshold"] == calibration["thresholds"]["f1"]
    history = json.loads((path / "history.json").read_text())
    assert len(history["evaluations"]) == 2  # one per epoch
    best = max(history["evaluations"], key=lambda r: r["ap"])
    assert calibration["epoch"] == best["epoch"] and calibration["threshold"] == best["f1_threshold"]
    assert (path / "history.csv").read_text().count("\n") == 3 and (path / "history.png").stat().st_size > 0
    # The saved weights are the chosen epoch's: scoring the validation split again gives its AP.
    from rerank.train.evaluator import probabilities, threshold_metrics

    val = ce_data.validation
    model = CrossEncoder(str(path), device="cpu")
    import torch

    logits = model.predict([(r.query, r.passage) for r in val], activation_fn=torch.nn.Identity())
    ap = threshold_metrics([r.label for r in val], probabilities(logits)[0]).ap
    assert ap == pytest.approx(calibration["validation"]["ap"], abs=1e-6)


def test_two_label_cross_encoder_uses_softmax(tmp_path, tokenizer_dir, ce_data):
    from rerank.train import train_cross_encoder

    train, val = ce_data.train, ce_data.validation
    result = train_cross_encoder(
        train[:24], val, tmp_path / "ce2", _ce_config(tokenizer_dir, 0, num_labels=2).replace(epochs=1),
        show_progress=False,
    )
    assert result.calibration["activation"] == "softmax"


def test_vocab_sizes_train_an_encoder_ensemble_of_vocabularies(tmp_path, tokenizer_dir, bi_runs, docs, labels):
    from sentence_transformers import SentenceTransformer

    from retrieval import Encoder, Searcher, build_index
    from retrieval.encoder_ensemble import EncoderEnsemble, is_ensemble
    from retrieval.train import static_part, train_bi_encoder

    queries, qrels = labels
    config = _bi_config(tokenizer_dir, 0).replace(vocab_sizes=(150, 120))
    made = train_bi_encoder(docs, tmp_path / "e", config, queries, qrels, show_progress=False)
    assert is_ensemble(made.path) and made.pairs["members"] == 3
    # the main part is the model the config trains without vocab_sizes, weight for weight
    main = SentenceTransformer(str(static_part(made.path)), device="cpu")
    assert _same(_weights(main), _weights(SentenceTransformer(str(bi_runs["a"].path), device="cpu")))
    sizes = {}
    for n in (150, 120):
        part = SentenceTransformer(str(made.path / f"vocab-{n}"), device="cpu")  # each part is an ordinary model
        sizes[n] = part[0].tokenizer.get_vocab_size()
        assert sizes[n] <= n
    assert sizes[150] > sizes[120]
    encoder = Encoder.load(str(made.path), device="cpu")
    assert isinstance(encoder, EncoderEnsemble) and encoder.dim == 48
    index = build_index(docs, encoder, show_progress=False)
    assert len(Searcher(index, encoder).query("protein folding", k=3)) == 3
    assert BiEncoderConfig.load(made.path / "train_config.json").vocab_sizes == (150, 120)
    assert {row["part"] for row in made.loss_history} == {"main", "vocab-150", "vocab-120"}
    with pytest.raises(ValueError, match="StaticEmbedding"):
        BiEncoderConfig(architecture="transformer", vocab_sizes=(120,))
    with pytest.raises(ValueError, match="distinct"):
        BiEncoderConfig(vocab_sizes=(120, 120))
    with pytest.raises(ValueError, match="repeats vocab_size"):
        BiEncoderConfig(vocab_size=8000, vocab_sizes=(8000,))


def test_clis_train_both_stages(tmp_path, tokenizer_dir, docs, capsys):
    from rerank.train import main as rerank_main
    from retrieval.train import main as retrieval_main

    data = tmp_path / "data"
    (data / "qrels").mkdir(parents=True)
    with open(data / "corpus.jsonl", "w") as handle:
        for d in docs:
            handle.write(json.dumps({"_id": d.doc_id, "title": d.title, "text": d.text}) + "\n")
    with open(data / "queries.jsonl", "w") as handle:
        for i in range(12):
            handle.write(json.dumps({"_id": f"q{i}", "text": f"about {TOPICS[i % 5]} item {i}"}) + "\n")
    (data / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(12)))
    st = tmp_path / "st"
    assert retrieval_main(["--data", str(data), "--out", str(st), "--tokenizer", str(tokenizer_dir), "--dim", "16",
                           "--epochs", "1", "--batch-size", "8", "--no-progress"]) == 0
    plain = tmp_path / "st-plain"
    assert retrieval_main(["--data", str(data), "--out", str(plain), "--tokenizer", "corpus", "--keep-inflections",
                           "--no-labels", "--dim", "16", "--epochs", "1", "--batch-size", "8", "--mining-rounds", "0",
                           "--quiet"]) == 0
    assert json.loads((plain / "train_config.json").read_text())["merge_inflections"] is False
    several = tmp_path / "st-vocabs"
    assert retrieval_main(["--data", str(data), "--out", str(several), "--tokenizer", "corpus", "--vocab-sizes", "150",
                           "--no-labels", "--dim", "16", "--epochs", "1", "--batch-size", "8", "--mining-rounds", "0",
                           "--quiet"]) == 0
    assert json.loads((several / "encoder_ensemble.json").read_text())["parts"] == ["main", "vocab-150"]
    ce = tmp_path / "ce"
    config = tmp_path / "ce.json"
    _ce_config(None, 0).replace(epochs=1).save(config)
    assert rerank_main(["--data", str(data), "--encoder", str(st), "--out", str(ce), "--config", str(config),
                        "--tokenizer", str(tokenizer_dir), "--no-progress"]) == 0
    assert (ce / "calibration.json").exists()
    knrm = tmp_path / "knrm"
    assert rerank_main(["--data", str(data), "--encoder", str(st), "--out", str(knrm), "--config", str(config),
                        "--tokenizer", str(tokenizer_dir), "--architecture", "kernel", "--quiet"]) == 0
    assert json.loads((knrm / "config.json").read_text())["model_type"] == "kernel_match"
    capsys.readouterr()
    assert retrieval_main(["--data", str(data), "--out", str(tmp_path / "x"), "--split", "test", "--quiet"]) == 2
    assert capsys.readouterr().err.startswith("error: refusing to train on the test split")


def test_configs_refuse_bad_values():
    with pytest.raises(ValueError, match="architecture"):
        BiEncoderConfig(architecture="lstm")
    with pytest.raises(ValueError, match="num_labels"):
        CrossEncoderConfig(num_labels=3)
    with pytest.raises(ValueError, match="unknown"):
        CrossEncoderConfig.from_dict({"epochz": 1})


def test_cross_encoder_embeddings_start_from_a_static_model(tmp_path, tokenizer_dir, static_encoder_path):
    import torch
    from sentence_transformers import SentenceTransformer

    from rerank.train.initial import initial_cross_encoder

    config = _ce_config(tokenizer_dir, 0, init_embeddings=str(static_encoder_path))  # 64-d static -> 16-d BERT
    model = initial_cross_encoder(config, tmp_path)
    got = model.model.get_input_embeddings().weight.detach()
    static = SentenceTransformer(str(static_encoder_path), device="cpu")[0].embedding.weight.detach()
    assert got.shape[1] == 16 and torch.isfinite(got).all()
    assert got.std().item() == pytest.approx(0.02, rel=0.05)
    # The projection keeps the main similarity structure: token-token similarities stay correlated.
    idx = torch.arange(0, 2000, 7)
    sim_static = torch.corrcoef(static[idx] - static.mean(0))[0]
    sim_init = torch.corrcoef(got[idx])[0]
    assert torch.corrcoef(torch.stack([sim_static, sim_init]))[0, 1] > 0.3


def test_bf16_training_moves_the_weights_and_keeps_them_fp32(tiny_encoder_path, tmp_path):
    import torch
    from sentence_transformers import SentenceTransformer

    from retrieval.train.bi_encoder import fit_mnrl

    model = SentenceTransformer(str(tiny_encoder_path), device="cpu")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    rows = {"anchor": [f"query {i} about topic {i}" for i in range(16)],
            "positive": [f"a passage on topic {i} and its details" for i in range(16)]}
    config = BiEncoderConfig(model=str(tiny_encoder_path), epochs=1, batch_size=8, learning_rate=1e-3, bf16=True)
    losses = fit_mnrl(model, rows, 1, config, tmp_path, show=False)
    assert losses and all(np.isfinite(r["loss"]) for r in losses)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast: fp32 master weights
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters())
    assert BiEncoderConfig.from_dict(config.to_dict()).bf16 and not BiEncoderConfig().bf16
