"""Sentence-level stage-1 evidence (MaxP): splitting, scoring, caching, and choosing its weight."""

from __future__ import annotations

import numpy as np
import pytest

from rerank.train.stage1_weight import WeightEvidence, choose_stage1_weight
from retrieval.sentences import SentenceScorer, split_sentences, title_and_body
from retrieval.types import Hit

VOCAB = ["statins", "mortality", "cholesterol", "jazz", "clubs", "protein", "folding", "chain", "football", "offside"]


class KeywordEncoder:
    """A bag-of-keywords encoder (unit vectors over VOCAB) that counts the texts it encodes."""

    normalize = True

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def _vectors(self, texts):
        out = np.zeros((len(texts), len(VOCAB)), dtype=np.float32)
        for i, t in enumerate(texts):
            words = t.lower().replace(".", " ").split()
            out[i] = [words.count(w) for w in VOCAB]
            out[i] /= max(np.linalg.norm(out[i]), 1e-12)
        return out

    def encode_queries(self, texts, show_progress=False):
        return self._vectors(texts)

    def encode_documents(self, texts, show_progress=True):
        self.encoded.extend(texts)
        return self._vectors(texts)


def test_split_keeps_the_title_and_the_long_sentences_and_is_never_empty():
    text = "Statins lower cholesterol in older adults. Methods. (A) cohort of 12,000 patients was followed! Why? Mortality fell."
    assert split_sentences(text, "Statin trial") == [
        "Statin trial", "Statins lower cholesterol in older adults.", "(A) cohort of 12,000 patients was followed!",
    ]
    assert split_sentences("e.g. short", "") == ["e.g. short"]  # nothing long enough: kept whole
    assert split_sentences("", "Only a title") == ["Only a title"]
    assert title_and_body("Jazz Clubs open late.", "Jazz") == ("Jazz", "Clubs open late.")
    assert title_and_body("Clubs open late.", "Jazz") == ("", "Clubs open late.")


def test_the_best_sentence_finds_a_match_that_the_whole_document_vector_dilutes():
    encoder = KeywordEncoder()
    focused = ("", "Jazz clubs host jazz bands in jazz clubs. Football offside football offside rules. Statins reduce mortality.")
    diffuse = ("", "Statins and cholesterol and protein in one long sentence.")
    query = "statins mortality"
    whole = encoder.encode_documents([focused[1], diffuse[1]]) @ encoder.encode_queries([query])[0]
    assert whole[0] < whole[1]  # document vectors prefer the diffuse one ...
    best = SentenceScorer(encoder).score([query], [[focused, diffuse]])[0]
    assert best[0] > best[1] and best[0] == pytest.approx(1.0)  # ... its one sentence answers the query exactly


def test_sentence_vectors_are_cached_per_document_and_evicted_oldest_first():
    encoder = KeywordEncoder()
    docs = [("", f"Statins reduce mortality in trial number {i} of many.") for i in range(3)]
    scorer = SentenceScorer(encoder, cache_size=2)
    first = scorer.score(["statins"], [docs])[0]
    assert len(encoder.encoded) == 3
    again = scorer.score(["statins"], [docs[1:]])[0]
    assert len(encoder.encoded) == 3 and again.tolist() == first[1:].tolist()  # the last two were kept
    scorer.score(["statins"], [docs[:1]])
    assert len(encoder.encoded) == 4  # the first was evicted
    uncached = SentenceScorer(encoder, cache_size=0)
    uncached.score(["statins"], [docs[:1]])
    uncached.score(["statins"], [docs[:1]])
    assert len(encoder.encoded) == 6
    hits = [Hit("a", 0.5, 1, "Jazz", "Clubs open late at night for the bands."), Hit("b", 0.4, 2, "", "Statins reduce mortality in adults.")]
    scored = SentenceScorer(encoder).with_scores(["statins mortality"], [hits])[0]
    assert [h.doc_id for h in scored] == ["a", "b"] and scored[1].sentence_score == pytest.approx(1.0)
    assert scored[0].sentence_score == pytest.approx(0.0) and scored[0].stage1_score is None
    with pytest.raises(ValueError, match="one list per query"):
        scorer.score(["a", "b"], [docs])


def test_the_two_weights_are_chosen_together_and_the_sentence_one_only_when_it_helps():
    rng = np.random.default_rng(0)
    relevant = {f"q{i}": [1] + [0] * 9 for i in range(20)}
    noise = {q: rng.normal(size=10) for q in relevant}
    weak_stage1 = {q: np.r_[0.5, rng.random(9)] for q in relevant}  # the relevant one in the middle
    sentences = {q: np.r_[0.9, 0.8 * rng.random(9)] for q in relevant}  # its best sentence matches best
    grid, sentence_grid = (0.0, 1.0, 3.0), (0.0, 0.5, 1.0)
    chosen = choose_stage1_weight(noise, weak_stage1, relevant, grid=grid, sentence_scores=sentences, sentence_grid=sentence_grid)
    assert chosen.sentence_weight > 0 and len(chosen.joint) == len(grid) * len(sentence_grid)
    assert max(chosen.joint.values()) == chosen.table[chosen.weight] > chosen.joint[(0.0, 0.0)]
    all_sentences = np.concatenate(list(sentences.values()))
    assert chosen.sentence_mean == pytest.approx(all_sentences.mean()) and chosen.sentence_std == pytest.approx(all_sentences.std())
    # Sentence scores that say nothing about relevance get no weight (ties go to the smaller one).
    flat = {q: np.full(10, 0.3) for q in relevant}
    assert choose_stage1_weight(noise, weak_stage1, relevant, sentence_scores=flat).sentence_weight == 0.0
    # Without sentence scores the choice is the one-dimensional one.
    plain = choose_stage1_weight(noise, weak_stage1, relevant, grid=grid)
    assert plain.sentence_weight == 0.0 and plain.joint == {}
    fold = WeightEvidence(noise, weak_stage1, relevant)
    with pytest.raises(ValueError, match="sentence scores"):
        choose_stage1_weight(noise, weak_stage1, relevant, more=[fold], sentence_scores=sentences)


def test_restandardise_moves_the_sentence_scale_too(tmp_path):
    import json

    from rerank.fusion import stage1_z
    from rerank.train.fusion import restandardise_stage1

    saved = {"threshold": 0.5, "stage1_weight": 1.0, "stage1_mean": 0.3, "stage1_std": 0.1,
             "sentence_weight": 0.5, "sentence_mean": 0.6, "sentence_std": 0.2}
    (tmp_path / "calibration.json").write_text(json.dumps(saved))
    before, after = [[0.9, 0.5, 0.2]], [[0.9, 0.5, 0.2]]
    with pytest.raises(ValueError, match="sentence_before"):
        restandardise_stage1(tmp_path, before, after)
    sentence_before = [[0.8, 0.6, 0.1], [0.7]]
    sentence_after = [[3 * s - 1 for s in row] for row in sentence_before]
    calibration = restandardise_stage1(tmp_path, before, after, sentence_before, sentence_after)
    assert calibration["sentence_before"] == {"sentence_mean": 0.6, "sentence_std": 0.2}
    assert calibration["sentence_transfer"]["scale"] == pytest.approx(3.0)
    assert stage1_z([3 * 0.7 - 1], calibration["sentence_mean"], calibration["sentence_std"])[0] == pytest.approx(
        stage1_z([0.7], 0.6, 0.2)[0]
    )
    assert calibration["stage1_mean"] == pytest.approx(0.3) and calibration["sentence_weight"] == 0.5
    assert json.loads((tmp_path / "calibration.json").read_text()) == calibration


def test_sentence_fusion_needs_the_stage1_weight_and_the_encoder(tmp_path, tokenizer_dir):
    from rerank.train import train_cross_encoder
    from rerank.train.config import CrossEncoderConfig
    from rerank.train.data import CandidateList, Example

    with pytest.raises(ValueError, match="fuse_stage1=True"):
        CrossEncoderConfig(fuse_sentences=True)
    config = CrossEncoderConfig(tokenizer=str(tokenizer_dir), architecture="kernel", fuse_stage1=True, fuse_sentences=True)
    rows = [Example("q", "statins", "Statins reduce mortality.", 1, "a"), Example("q", "statins", "Jazz clubs.", 0, "b")]
    lists = [CandidateList("q", "statins", ("a", "b"), ("Statins reduce mortality.", "Jazz clubs."), (0.9, 0.1), (1, 0))]
    with pytest.raises(ValueError, match="sentence_encoder"):
        train_cross_encoder(rows, rows, tmp_path / "ce", config, show_progress=False, validation_lists=lists)


def test_a_wrapped_reranker_is_given_the_sentence_scores_the_searcher_would_give():
    from retrieval.sentence_reranker import SentenceScoringReranker, with_sentence_scores

    class Fusing:
        threshold = 0.4
        sentence_weight = 1.0

        def score(self, queries, candidates):
            return [np.array([h.sentence_score for h in hits]) for hits in candidates]

    class Plain(Fusing):
        sentence_weight = 0.0

    plain = Plain()
    assert with_sentence_scores(plain, KeywordEncoder()) is plain
    encoder = KeywordEncoder()
    wrapped = with_sentence_scores(Fusing(), encoder)
    assert isinstance(wrapped, SentenceScoringReranker) and wrapped.threshold == 0.4
    hits = [Hit("a", 0.5, 1, "", "Jazz clubs open late for the bands."), Hit("b", 0.4, 2, "", "Statins reduce mortality in adults.")]
    given = [Hit("c", 0.3, 1, "", "Statins reduce mortality in adults.", sentence_score=0.25)]
    scores = wrapped.score(["statins mortality", "statins"], [hits, given])
    assert scores[0].tolist() == pytest.approx([0.0, 1.0]) and scores[1].tolist() == [0.25]  # given scores are kept
    wrapped.score(["statins mortality"], [hits])
    assert len(encoder.encoded) == 4  # no cache by default: every call encodes, and is timed, in full
    with pytest.raises(ValueError, match="one per candidate list"):
        wrapped.score(["a"], [hits, given])
