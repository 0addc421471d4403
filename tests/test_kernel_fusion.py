"""The K-NRM cross-encoder and the stage-1 weight: built here, trained on tiny data, loaded back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rerank.fusion import fuse_stage1, stage1_z
from rerank.train.stage1_weight import GRID, choose_stage1_weight
from retrieval.types import Hit

CORPUS = [
    "Statins lower cholesterol and reduce cardiac mortality in older adults.",
    "Jazz musicians improvise over chord changes in small clubs.",
    "Protein folding is guided by hydrophobic collapse of the chain.",
    "Football scores rose after the rule change on offside.",
]


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory, tokenizer_dir):
    from rerank.train.scratch import kernel_cross_encoder

    return kernel_cross_encoder(
        tokenizer_dir, tmp_path_factory.mktemp("knrm"), hidden_size=16, max_length=64, corpus_texts=CORPUS
    )


def test_untrained_kernel_model_counts_exact_matches_weighted_by_idf(kernel_path):
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(kernel_path), device="cpu")
    query = "do statins reduce mortality"
    scores = model.predict([(query, p) for p in CORPUS])
    assert int(np.argmax(scores)) == 0
    # Passages sharing no query term all get the same, lower score (no match counted).
    assert scores[1] == pytest.approx(scores[2]) == pytest.approx(scores[3]) and scores[1] < scores[0]
    # A rare term weighs more than a common one: matching "chain" (in one passage) beats matching
    # "the" (in several).
    rare, common = model.predict([("the chain", "a long chain"), ("the chain", "the long road")])
    assert rare > common


def test_kernel_model_round_trips_and_refuses_inputs_without_token_types(kernel_path, tmp_path):
    import torch
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(kernel_path), device="cpu")
    pairs = [("protein chain folding", p) for p in CORPUS]
    model.save(str(tmp_path / "again"))
    config = json.loads((tmp_path / "again" / "config.json").read_text())
    assert config["model_type"] == "kernel_match" and "AutoModelForSequenceClassification" in config["auto_map"]
    assert (tmp_path / "again" / "kernel_model.py").exists()  # loadable with trust_remote_code elsewhere
    np.testing.assert_array_equal(model.predict(pairs), CrossEncoder(str(tmp_path / "again"), device="cpu").predict(pairs))
    with pytest.raises(ValueError, match="token_type_ids"):
        model.model(input_ids=torch.tensor([[2, 100, 3, 200, 3]]))


def test_a_pair_scores_the_same_alone_and_padded_in_a_batch(kernel_path):
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(kernel_path), device="cpu")
    long_query = "statins cholesterol cardiac mortality older adults protein folding chain collapse"
    pairs = [("statins mortality", CORPUS[0]), (long_query, " ".join(CORPUS * 3)), ("chain", CORPUS[2])]
    batched = model.predict(pairs, batch_size=3)
    alone = np.array([model.predict([p], batch_size=1)[0] for p in pairs])
    # Short pairs are padded to the long one's length; padding (token type 0, like the query) must not
    # count as query positions or passage tokens.
    np.testing.assert_allclose(batched, alone, rtol=1e-5, atol=1e-6)


def test_stage1_z_and_fuse_add_to_the_relevance_logit():
    z = stage1_z([3.0, 2.0, 1.0], mean=2.0, std=0.5)
    assert z.tolist() == [2.0, 0.0, -2.0]
    one = fuse_stage1(np.array([[0.0], [0.0], [0.0]]), [3.0, 2.0, 1.0], 2.0, 2.0, 0.5)
    assert one.shape == (3, 1) and one[:, 0] == pytest.approx(2.0 * z)
    two = fuse_stage1(np.zeros((3, 2)), [3.0, 2.0, 1.0], 2.0, 2.0, 0.5)
    assert two[:, 0].tolist() == [0.0, 0.0, 0.0] and two[:, 1] == pytest.approx(2.0 * z)
    # Each pair's fused score depends on that pair alone: a prefix of the list scores the same.
    assert fuse_stage1(np.zeros(2), [3.0, 2.0], 2.0, 2.0, 0.5).tolist() == one[:2, 0].tolist()
    with pytest.raises(ValueError, match="stage-1 scores"):
        fuse_stage1(np.zeros(3), [1.0, 2.0], 1.0)
    with pytest.raises(ValueError, match="standard deviation"):
        stage1_z([1.0], mean=0.0, std=0.0)


def test_large_fused_logits_keep_their_order_as_probabilities():
    from rerank.outputs import scores_from_logits

    # A large stage-1 weight: fused logits 18 and 24, where a float32 sigmoid is 1.0 for both.
    fused = fuse_stage1(np.array([2.0, 0.0]), [4.0, 6.0], 4.0, mean=0.0, std=1.0)
    assert fused.tolist() == [18.0, 24.0]
    probabilities = scores_from_logits(fused, "sigmoid").scores
    assert probabilities[1] > probabilities[0] > 0.9999999
    assert scores_from_logits(fused.astype(np.float32), "sigmoid").scores.tolist() == [1.0, 1.0]  # why


def test_the_weight_follows_whichever_stage_ranks_the_held_out_queries_better():
    rng = np.random.default_rng(0)
    relevant = {f"q{i}": [1] + [0] * 9 for i in range(20)}
    good_stage1 = {q: np.linspace(1.0, 0.0, 10) for q in relevant}  # the relevant document first
    noise = {q: rng.normal(size=10) for q in relevant}
    chosen = choose_stage1_weight(noise, good_stage1, relevant)
    weight, table = chosen.weight, chosen.table
    assert weight > 0 and table[weight] == max(table.values()) and table[weight] > table[0.0] + 0.2
    assert chosen.mean == pytest.approx(0.5) and chosen.std == pytest.approx(np.linspace(1.0, 0.0, 10).std())
    perfect = {q: np.array([5.0] + [0.0] * 9) for q in relevant}
    reversed_stage1 = {q: np.linspace(0.0, 1.0, 10) for q in relevant}
    chosen = choose_stage1_weight(perfect, reversed_stage1, relevant)
    assert chosen.weight == 0.0 and chosen.table[0.0] == 1.0


def test_the_one_standard_error_rule_leans_on_stage_1_only_where_the_held_out_queries_cannot_tell():
    rng = np.random.default_rng(2)
    relevant = {f"q{i}": [1] + [0] * 9 for i in range(40)}
    # Both rank the relevant document near the top with noise: nearby weights score within noise.
    stage1 = {q: np.r_[1.0, rng.uniform(0.0, 1.2, 9)] for q in relevant}
    logits = {q: np.r_[1.0, rng.uniform(0.0, 1.1, 9)] for q in relevant}
    best = choose_stage1_weight(logits, stage1, relevant)
    leaning = choose_stage1_weight(logits, stage1, relevant, rule="one-se", grid=GRID)
    assert leaning.table == best.table and leaning.weight > best.weight
    assert best.table[leaning.weight] < best.table[best.weight]  # a lower held-out mean, within one standard error
    # A reranker that is right against a reversed stage 1: no weight that costs a query is taken.
    perfect = {q: np.array([5.0] + [0.0] * 9) for q in relevant}
    reversed_stage1 = {q: np.linspace(0.0, 1.0, 10) for q in relevant}
    chosen = choose_stage1_weight(perfect, reversed_stage1, relevant, rule="one-se")
    assert chosen.table[chosen.weight] == 1.0 and min(w for w, v in chosen.table.items() if v < 1.0) > chosen.weight
    with pytest.raises(ValueError, match="unknown weight rule"):
        choose_stage1_weight(perfect, reversed_stage1, relevant, rule="smallest")


def test_more_held_out_groups_outvote_a_few_each_on_its_own_scales():
    from rerank.train.stage1_weight import WeightEvidence

    rng = np.random.default_rng(1)
    relevant = {f"v{i}": [1] + [0] * 9 for i in range(3)}
    # Three validation queries: the reranker is right and stage 1 reversed, so alone they choose 0.
    perfect = {q: np.array([5.0] + [0.0] * 9) for q in relevant}
    reversed_stage1 = {q: np.linspace(0.0, 1.0, 10) for q in relevant}
    assert choose_stage1_weight(perfect, reversed_stage1, relevant).weight == 0.0
    # Thirty cross-validated queries where stage 1 is right and that fold's reranker is noise, on
    # another reranker's logit scale (x 40) and another stage 1's score scale (x 100 + 7).
    fold_relevant = {f"f{i}": [1] + [0] * 9 for i in range(30)}
    fold = WeightEvidence(
        {q: 40 * rng.normal(size=10) for q in fold_relevant},
        {q: 100 * np.linspace(1.0, 0.0, 10) + 7 for q in fold_relevant},
        fold_relevant,
    )
    pooled = choose_stage1_weight(perfect, reversed_stage1, relevant, more=[fold])
    assert pooled.weight > 0 and pooled.table[pooled.weight] > pooled.table[0.0]
    # The weight, standardisation and table stay on the first group's scales.
    alone = choose_stage1_weight(perfect, reversed_stage1, relevant)
    assert (pooled.mean, pooled.std) == (alone.mean, alone.std) and set(pooled.table) == set(alone.table)
    # Each group is standardised on its own: rescaling the fold's logits or stage-1 scores changes nothing.
    rescaled = WeightEvidence(
        {q: v / 40 for q, v in fold.logits.items()},
        {q: (np.asarray(v) - 7) / 100 for q, v in fold.stage1_scores.items()}, fold_relevant,
    )
    assert choose_stage1_weight(perfect, reversed_stage1, relevant, more=[rescaled]).table == pytest.approx(pooled.table)


def test_reranker_adds_the_calibrated_stage1_weight(kernel_path, tmp_path):
    import shutil

    from rerank import CrossEncoderReranker

    folder = tmp_path / "fused"
    shutil.copytree(kernel_path, folder)
    (folder / "calibration.json").write_text(json.dumps({"threshold": 0.5, "activation": "sigmoid", "stage1_weight": 50.0, "stage1_mean": 0.5, "stage1_std": 0.3}))
    hits = [Hit(f"d{i}", s, i + 1, text=CORPUS[i], stage1_score=s, stage1_rank=i + 1) for i, s in enumerate([0.1, 0.9, 0.5, 0.3])]
    plain = CrossEncoderReranker.load(str(kernel_path)).score(["do statins reduce mortality"], [hits])[0]
    fused = CrossEncoderReranker.load(str(folder)).score(["do statins reduce mortality"], [hits])[0]
    assert int(np.argmax(plain)) == 0  # the only passage with query terms
    assert int(np.argmax(fused)) == 1 and ((fused >= 0) & (fused <= 1)).all()  # a large weight: stage 1 decides
    with pytest.raises(ValueError, match="stage1_score"):
        CrossEncoderReranker.load(str(folder)).score(["q"], [[Hit("d0", 0.1, 1, text=CORPUS[0])]])


def test_training_with_fusion_saves_the_weight_and_refits_thresholds(tmp_path, tokenizer_dir):
    from rerank.train import train_cross_encoder
    from rerank.train.config import CrossEncoderConfig
    from rerank.train.data import CandidateList, Example

    rng = np.random.default_rng(0)
    rows, lists = [], []
    for i in range(16):
        topic = CORPUS[i % 4]
        query = " ".join(topic.split()[:3])
        docs = [CORPUS[(i + j) % 4] for j in range(4)]
        rows += [Example(f"q{i}", query, d, int(j == 0), f"d{(i + j) % 4}") for j, d in enumerate(docs)]
        lists.append(CandidateList(f"q{i}", query, tuple(f"d{(i + j) % 4}" for j in range(4)), tuple(docs),
                                   tuple(sorted(rng.random(4), reverse=True)), (1, 0, 0, 0)))
    train, val = rows[:48], rows[48:]
    config = CrossEncoderConfig(tokenizer=str(tokenizer_dir), architecture="kernel", shape={"hidden_size": 16},
                                max_length=64, epochs=1, batch_size=8, fuse_stage1=True)
    result = train_cross_encoder(train, val, tmp_path / "ce", config, show_progress=False,
                                 validation_lists=lists[12:], corpus_texts=CORPUS)
    saved = json.loads((result.path / "calibration.json").read_text())
    assert "stage1_weight" in saved and saved["fusion"]["queries"] == 4 and saved["stage1_std"] > 0
    assert 0.0 in [float(w) for w in saved["fusion"]["grid"]]
    if saved["stage1_weight"] > 0:
        assert saved["threshold"] == saved["thresholds"]["f1"] and "validation_fused" in saved


def test_a_smaller_embedding_learning_rate_moves_the_token_vectors_less(tmp_path, tokenizer_dir):
    import torch
    from sentence_transformers import CrossEncoder

    from rerank.train.scratch import kernel_cross_encoder
    from rerank.train import train_cross_encoder
    from rerank.train.config import CrossEncoderConfig
    from rerank.train.data import Example

    start = CrossEncoder(str(kernel_cross_encoder(tokenizer_dir, tmp_path / "start", hidden_size=16, max_length=64,
                                                  corpus_texts=CORPUS)), device="cpu").model
    rows = [Example(f"q{i}", " ".join(CORPUS[i % 4].split()[:2]), CORPUS[(i + j) % 4], int(j == 0), f"d{(i + j) % 4}")
            for i in range(12) for j in range(3)]
    moved = {}
    for name, rate in (("same", None), ("slow", 1e-4)):
        config = CrossEncoderConfig(tokenizer=str(tokenizer_dir), architecture="kernel", shape={"hidden_size": 16},
                                    max_length=64, epochs=1, batch_size=8, embedding_learning_rate=rate)
        result = train_cross_encoder(rows[:27], rows[27:], tmp_path / name, config, show_progress=False,
                                     corpus_texts=CORPUS)
        trained = CrossEncoder(str(result.path), device="cpu").model
        moved[name] = float((trained.embeddings.weight - start.embeddings.weight).abs().max().detach())
        # The other parameters still learn at the model's rate.
        assert not torch.allclose(trained.term_weights.weight, start.term_weights.weight)
    # AdamW moves each weight by about its learning rate per step: 3e-2 against 1e-4.
    assert moved["slow"] < moved["same"] / 20 and moved["slow"] > 0
    with pytest.raises(ValueError, match="embedding_learning_rate"):
        CrossEncoderConfig(embedding_learning_rate=0.0)


def test_reranker_and_searcher_fuse_the_best_sentence_score(kernel_path, tiny_encoder, tmp_path):
    import shutil

    from rerank import CrossEncoderReranker
    from retrieval import Searcher, build_index
    from retrieval.sentences import SentenceScorer

    folder = tmp_path / "sentences"
    shutil.copytree(kernel_path, folder)
    (folder / "calibration.json").write_text(json.dumps({
        "threshold": 0.5, "activation": "sigmoid", "stage1_weight": 0.0, "stage1_mean": 0.0, "stage1_std": 1.0,
        "sentence_weight": 50.0, "sentence_mean": 0.5, "sentence_std": 0.3,
    }))
    reranker = CrossEncoderReranker.load(str(folder))
    assert reranker.sentence_weight == 50.0 and reranker.info()["sentence_weight"] == 50.0
    assert CrossEncoderReranker.load(str(kernel_path)).sentence_weight == 0.0  # absent: the plain model
    hits = [Hit(f"d{i}", 0.5, i + 1, text=CORPUS[i], stage1_score=0.5, sentence_score=s) for i, s in enumerate([0.1, 0.9, 0.5, 0.3])]
    fused = reranker.score(["do statins reduce mortality"], [hits])[0]
    assert int(np.argmax(fused)) == 1  # a large weight: the sentence score decides
    with pytest.raises(ValueError, match="sentence_score"):
        reranker.score(["q"], [[Hit("d0", 0.1, 1, text=CORPUS[0], stage1_score=0.1)]])
    # The Searcher computes each candidate's sentence score with its own (stage-1) encoder.
    docs = [{"_id": f"d{i}", "title": "", "text": t} for i, t in enumerate(CORPUS)]
    index = build_index(docs, tiny_encoder, show_progress=False)
    found = Searcher(index, tiny_encoder, reranker=reranker, candidates=4).query("protein folding chain", k=4)
    expected = SentenceScorer(tiny_encoder).score(["protein folding chain"], [[("", CORPUS[int(h.doc_id[1:])]) for h in found]])[0]
    assert [h.sentence_score for h in found] == pytest.approx(expected.tolist(), abs=1e-5)
    assert [h.sentence_score for h in found] == sorted((h.sentence_score for h in found), reverse=True)
    plain = Searcher(index, tiny_encoder, reranker=CrossEncoderReranker.load(str(kernel_path)), candidates=4)
    assert all(h.sentence_score is None for h in plain.query("protein folding chain", k=4))
