"""A sharded index behind the Searcher and the command lines, with stage 2 unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest

from indexes.sharded import ShardedIndex
from tests.shard_support import ray_cluster  # noqa: F401 - a fixture, used by name

QUERIES = ["faiss vector search", "jazz music passage 9", "protein folding number 11", "climate"]


class TextLengthReranker:
    """A stage-2 stand-in: scores a candidate by its stage-1 score plus a function of its text."""

    threshold = None

    def score(self, queries, candidates):
        return [np.array([h.stage1_score + (len(h.text) % 7) / 10 for h in hits]) for hits in candidates]


def _pairs(results):
    return [[(h.doc_id, round(h.score, 5), h.stage1_rank) for h in hits] for hits in results]


def test_searcher_takes_a_sharded_index_and_reranks_as_with_one_index(tmp_path, tiny_encoder, toy_corpus):
    from retrieval import Searcher, build_index
    from retrieval.distributed import build_sharded

    single = build_index(toy_corpus, tiny_encoder, show_progress=False)
    build_sharded(toy_corpus, tiny_encoder, tmp_path / "s3", shards=3, show_progress=False)
    for reranker in (None, TextLengthReranker()):
        depth = {} if reranker is None else {"candidates": 20}
        expected = Searcher(single, encoder=tiny_encoder, reranker=reranker, **depth).query_batch(QUERIES, k=5)
        from_path = Searcher(tmp_path / "s3", encoder=tiny_encoder, reranker=reranker, **depth)
        assert isinstance(from_path.index, ShardedIndex)
        assert _pairs(from_path.query_batch(QUERIES, k=5)) == _pairs(expected)
        loaded = ShardedIndex.load(tmp_path / "s3")
        searcher = Searcher(loaded, encoder=tiny_encoder, reranker=reranker, **depth)
        assert _pairs([searcher.query(QUERIES[1], k=5)]) == _pairs(expected[1:2])


def test_build_and_search_command_lines_with_shards(tmp_path, tiny_encoder_path, toy_corpus, capsys):
    from indexes.build import main as build
    from retrieval.search import main as search

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in toy_corpus), encoding="utf-8")
    out = tmp_path / "idx"
    args = ["--corpus", str(corpus), "--encoder", str(tiny_encoder_path), "--out", str(out), "--cpu"]
    assert build([*args, "--shards", "4", "--factory", "IVF4,Flat", "--train-size", "40"]) == 0
    assert "40 documents in 4 shards" in capsys.readouterr().out
    assert build([*args, "--ray"]) == 2 and "--shards" in capsys.readouterr().err
    assert search(["--index", str(out), "-k", "3", "--json", "jazz music"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 3 and all(h["doc_id"].startswith("d") for h in hits)


@pytest.mark.ray
@pytest.mark.usefixtures("ray_cluster")
def test_search_command_line_serves_shards_from_ray(tmp_path, tiny_encoder, toy_corpus, capsys):
    from retrieval.distributed import build_sharded
    from retrieval.search import main as search

    build_sharded(toy_corpus, tiny_encoder, tmp_path / "s2", shards=2, show_progress=False)
    args = ["--index", str(tmp_path / "s2"), "--encoder", tiny_encoder.name, "-k", "4", "--json", "jazz"]
    assert search(args) == 0
    local = json.loads(capsys.readouterr().out)
    assert search([*args, "--ray"]) == 0
    assert json.loads(capsys.readouterr().out) == local
