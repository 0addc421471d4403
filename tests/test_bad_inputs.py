"""Bad input to the serving layers and the command lines gets a typed error that says what to do.

The storage layer's own table is in test_index_inputs.py; the rows here are the ones that reach a
model or a command line: text that is not Unicode, integral numpy sizes, `candidates` without a
reranker, a bi-encoder passed as the reranker, unwritable output folders, huge queries and an
encoder whose weights were perturbed.
"""

from __future__ import annotations

import json
import re
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from indexes import CorpusError, EncoderMismatchError, IndexFormatError
from rerank import CrossEncoderReranker
from rerank.train.scratch import random_cross_encoder
from retrieval import Encoder, InvalidTextError, ModelLoadError, QueryTruncatedWarning, Searcher, build_index

SURROGATE = "caf\udce9"  # b"caf\xe9" (Latin-1) decoded as UTF-8 with surrogateescape, as argv is


@pytest.fixture(scope="module")
def ce_path(tmp_path_factory, tokenizer_dir):
    return random_cross_encoder(tokenizer_dir, tmp_path_factory.mktemp("ce"), num_labels=1, max_length=64, init_std=0.3)


@pytest.fixture(scope="module")
def ctx(tiny_encoder, tiny_encoder_path, ce_path, tmp_path_factory):
    corpus = [{"_id": f"d{i}", "text": f"passage {i} on topic {i % 5}"} for i in range(30)]
    index = build_index(corpus, tiny_encoder, show_progress=False)
    saved = tmp_path_factory.mktemp("saved") / "idx"
    index.save(saved)
    reranker = CrossEncoderReranker.load(str(ce_path), device="cpu")
    return SimpleNamespace(
        index=index,
        saved=saved,
        encoder=tiny_encoder,
        bi_encoder_path=tiny_encoder_path,
        reranker=reranker,
        plain=Searcher(index, tiny_encoder),
        reranked=Searcher(index, tiny_encoder, reranker=reranker, candidates=20),
    )


# name: (call on ctx, the error, the message it must match)
BAD_INPUTS = {
    "a query with a lone surrogate": (
        lambda c: c.plain.query(SURROGATE),
        InvalidTextError,
        r"query 0 \('caf\\udce9'\) holds a lone surrogate '\\udce9' at position 3: .*not UTF-8.*decode it",
    ),
    "the second query of a batch with a lone surrogate": (
        lambda c: c.reranked.query_batch(["fine", SURROGATE]),
        InvalidTextError,
        r"query 1 \('caf\\udce9'\) holds a lone surrogate",
    ),
    "a lone surrogate straight to the encoder": (
        lambda c: c.encoder.encode_queries(["ok", SURROGATE]),
        InvalidTextError,
        r"query 1 \('caf\\udce9'\) holds a lone surrogate",
    ),
    "a document text with a lone surrogate straight to the encoder": (
        lambda c: c.encoder.encode_documents([SURROGATE], show_progress=False),
        InvalidTextError,
        r"document 0 \('caf\\udce9'\) holds a lone surrogate",
    ),
    "a pair with a lone surrogate straight to the reranker": (
        lambda c: c.reranker.predict([("query", "a passage"), ("query", SURROGATE)]),
        InvalidTextError,
        r"passage 1 \('caf\\udce9'\) holds a lone surrogate",
    ),
    "corpus text with a lone surrogate": (
        lambda c: build_index([{"_id": "a", "text": SURROGATE}], c.encoder, show_progress=False),
        CorpusError,
        r"lone surrogate '\\udce9' at position 3",
    ),
    "k as a bool": (lambda c: c.plain.query("q", k=True), ValueError, r"k must be a positive integer, got True"),
    "k as a float": (lambda c: c.plain.query("q", k=5.0), ValueError, r"k must be a positive integer, got 5.0"),
    "k as numpy zero": (lambda c: c.plain.query("q", k=np.int64(0)), ValueError, r"k must be a positive integer"),
    "candidates=0 without a reranker": (
        lambda c: c.plain.query("q", candidates=0),
        ValueError,
        r"candidates=0: candidates is the depth a reranker rescores, and this Searcher has no reranker",
    ),
    "candidates=50 without a reranker": (
        lambda c: c.plain.query("q", k=5, candidates=50),
        ValueError,
        r"candidates=50: .*no reranker; pass reranker=",
    ),
    "a Searcher given candidates and no reranker": (
        lambda c: Searcher(c.index, c.encoder, candidates=50),
        ValueError,
        r"candidates=50: .*no reranker",
    ),
    "candidates fewer than k with a reranker": (
        lambda c: c.reranked.query("q", k=10, candidates=5),
        ValueError,
        r"candidates=5 is fewer than k=10: the reranker returns hits from the candidates it rescores only",
    ),
    "candidates as numpy zero with a reranker": (
        lambda c: c.reranked.query("q", candidates=np.int64(0)),
        ValueError,
        r"candidates must be a positive integer, got np.int64\(0\)",
    ),
    "a bi-encoder folder as the reranker": (
        lambda c: CrossEncoderReranker.load(str(c.bi_encoder_path), device="cpu"),
        ModelLoadError,
        r"is a bi-encoder .*not a cross-encoder.*randomly initialised classifier.*python -m rerank.train",
    ),
    "the packaged bi-encoder by its hub name as the reranker": (
        lambda c: CrossEncoderReranker.load("sentence-transformers/all-MiniLM-L6-v2", device="cpu"),
        ModelLoadError,
        r"'sentence-transformers/all-MiniLM-L6-v2' is a bi-encoder",
    ),
    "a base model without a classifier head as the reranker": (
        lambda c: CrossEncoderReranker.load(str(c.bi_encoder_path / "_bert"), device="cpu"),
        ModelLoadError,
        r"has no classifier head \(architectures \['BertModel'\]\).*python -m rerank.train",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_a_typed_error(ctx, case):
    call, error, message = BAD_INPUTS[case]
    with pytest.raises(error, match=message):
        call(ctx)


def test_remove_counts_each_id_once(ctx):
    index = build_index([{"_id": "a", "text": "x"}, {"_id": "b", "text": "y"}], ctx.encoder, show_progress=False)
    assert index.remove(["a", "a"]) == 1 and len(index) == 1


def test_integral_numpy_sizes_are_accepted(ctx):
    assert [h.doc_id for h in ctx.plain.query("topic 3", k=np.int64(5))] == [
        h.doc_id for h in ctx.plain.query("topic 3", k=5)
    ]
    hits = ctx.reranked.query("topic 3", k=np.int32(4), candidates=np.int64(12))
    assert len(hits) == 4 and ctx.reranker.last_stats.pairs == 12
    assert Searcher(ctx.index, ctx.encoder, reranker=ctx.reranker, candidates=np.uint16(8)).candidates == 8


def test_a_base_model_still_loads_for_fine_tuning(ctx, tmp_path):
    from rerank.train.config import CrossEncoderConfig
    from rerank.train.initial import initial_cross_encoder

    model = initial_cross_encoder(CrossEncoderConfig(model=str(ctx.bi_encoder_path), num_labels=1), tmp_path)
    assert model.num_labels == 1


# -- huge queries ---------------------------------------------------------------------------------


@pytest.fixture()
def tokenized_chars(monkeypatch):
    """Counts the characters of text handed to any Hugging Face tokenizer (the cost of a huge query)."""
    from transformers import PreTrainedTokenizerBase

    seen = {"chars": 0}
    original = PreTrainedTokenizerBase.__call__

    def count(value):
        if isinstance(value, str):
            return len(value)
        if isinstance(value, (list, tuple)):
            return sum(count(v) for v in value)
        return 0

    def spy(self, text=None, text_pair=None, *args, **kwargs):
        seen["chars"] += count(text) + count(text_pair)
        return original(self, text, text_pair, *args, **kwargs)

    monkeypatch.setattr(PreTrainedTokenizerBase, "__call__", spy)
    return seen


def _window_query(words: int) -> str:
    return " ".join(f"protein{i % 7} folding" for i in range(words))


HUGE = _window_query(60_000)  # 1 MB of text, tens of thousands of tokens


def test_a_huge_query_costs_one_window_and_is_reported(ctx, tokenized_chars):
    assert len(HUGE) > 1_000_000
    window = ctx.encoder.model.max_seq_length
    full = _window_query(window)  # already over the window: the encoder reads the same first tokens
    for searcher in (ctx.plain, ctx.reranked):
        tokenized_chars["chars"] = 0
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            reference = searcher.query(full, k=5)
        full_chars = tokenized_chars["chars"]
        tokenized_chars["chars"] = 0
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hits = searcher.query(HUGE, k=5)
        huge_chars = tokenized_chars["chars"]
        # the huge query is cut before tokenizing: about the work of the full-window one, not 1 MB of it
        assert huge_chars <= 2 * full_chars + 20_000, (huge_chars, full_chars)
        assert [(h.doc_id, round(h.score, 5)) for h in hits] == [(h.doc_id, round(h.score, 5)) for h in reference]
        reports = [w for w in caught if issubclass(w.category, QueryTruncatedWarning)]
        assert reports, [str(w.message) for w in caught]
        assert any("reads at most" in str(w.message) for w in reports)
    assert ctx.reranker.last_stats.query_truncated == 20


def test_the_encoder_reports_which_query_was_cut(ctx):
    with pytest.warns(QueryTruncatedWarning, match=r"query 1 .* tokens; the encoder reads at most 128"):
        vectors = ctx.encoder.encode_queries(["short", HUGE])
    with pytest.warns(QueryTruncatedWarning, match="query 0 is longer"):  # cut the same way, tokens over the window
        window = ctx.encoder.encode_queries([_window_query(200)])[0]
    np.testing.assert_allclose(vectors[1], window, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", QueryTruncatedWarning)
        ctx.encoder.encode_queries(["short", "also short"])  # nothing cut, nothing said
        ctx.encoder.encode_documents([HUGE[:5000]], show_progress=False)  # documents are cut as before, silently


def test_the_reranker_cuts_a_huge_query_before_pairing(ctx, tokenized_chars):
    passages = [f"passage {i} about protein folding" for i in range(30)]
    with pytest.warns(QueryTruncatedWarning, match=r"query .* the reranker reads at most 64 tokens"):
        huge = ctx.reranker.predict([(HUGE, p) for p in passages])
    assert tokenized_chars["chars"] < 50_000  # not 30 copies of 1 MB
    with pytest.warns(QueryTruncatedWarning, match="30 of 30"):
        cut = ctx.reranker.predict([(_window_query(100), p) for p in passages])
    np.testing.assert_allclose(huge, cut, atol=1e-6)


# -- the encoder check ----------------------------------------------------------------------------


def _perturbed(path, scale: float = 0.01):
    import torch

    encoder = Encoder.load(str(path), device="cpu")
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in encoder.model.parameters():
            param.mul_(1 + scale * torch.randn(param.shape, generator=generator))
    return encoder


def test_an_encoder_with_perturbed_weights_is_refused(ctx):
    from retrieval.encoder_manifest import check_encoder

    recorded = ctx.index.manifest.encoder
    assert len(recorded["fingerprint"]) == 64
    noisy = _perturbed(ctx.bi_encoder_path)
    with pytest.raises(EncoderMismatchError, match=r"weights.*fingerprint .* differ.*rebuild"):
        Searcher(ctx.index, noisy)
    with pytest.raises(EncoderMismatchError, match="weights"):
        Searcher(ctx.saved, encoder=noisy)
    Searcher(ctx.saved, encoder=Encoder.load(str(ctx.bi_encoder_path), device="cpu"))  # the same model, reloaded
    Searcher(ctx.saved)  # the one the manifest names
    # a manifest written before fingerprints: the probe embedding decides, with a tight tolerance
    legacy = {k: v for k, v in recorded.items() if k != "fingerprint"}
    tight = r"probe embedding differs by up to \d\.\de-\d+ \(tolerance 1e-05; .*no weights fingerprint"
    with pytest.raises(EncoderMismatchError, match=tight):
        check_encoder(noisy, legacy)
    check_encoder(Encoder.load(str(ctx.bi_encoder_path), device="cpu"), legacy)


def test_the_fingerprint_follows_in_place_changes(ctx):
    from retrieval.encoder_manifest import weights_fingerprint

    encoder = Encoder.load(str(ctx.bi_encoder_path), device="cpu")
    before = weights_fingerprint(encoder)
    assert before == ctx.index.manifest.encoder["fingerprint"] == weights_fingerprint(ctx.encoder)
    import torch

    with torch.no_grad():
        next(encoder.model.parameters())[0, 0] += 1e-3
    assert weights_fingerprint(encoder) != before


# -- command lines --------------------------------------------------------------------------------


@pytest.fixture()
def corpus_file(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(json.dumps({"_id": f"d{i}", "text": f"passage {i}"}) for i in range(12)) + "\n")
    return path


def _build(c, corpus, out):
    from indexes.build import main

    return main(["--corpus", str(corpus), "--encoder", str(c.bi_encoder_path), "--out", str(out)])


def _search(*argv):
    from retrieval.search import main

    return main(list(argv))


def _not_writable(c, corpus, tmp, monkeypatch):
    from indexes import Index

    def refuse(self, path, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Index, "save", refuse)
    return _build(c, corpus, tmp / "locked" / "idx")


def _beir(tmp, corpus_bytes: bytes):
    folder = tmp / "beir"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_bytes(corpus_bytes)
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": "a query"}\n')
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\ta\t1\n")
    return folder


# name: (run the command on (ctx, corpus file, tmp folder, monkeypatch), what stderr must say)
CLI_BAD_INPUTS = {
    "build --out under a file": (
        lambda c, corpus, tmp, mp: _build(c, corpus, _file(tmp) / "idx"),
        r"cannot write an index here",
    ),
    "build --out is a file": (lambda c, corpus, tmp, mp: _build(c, corpus, _file(tmp)), r"is a file"),
    "build --out not writable": (_not_writable, r"Permission denied"),
    "build with a missing corpus": (lambda c, corpus, tmp, mp: _build(c, tmp / "nope.jsonl", tmp / "o"), r"nope"),
    "search with a non-UTF-8 query": (
        lambda c, corpus, tmp, mp: _search("--index", str(c.saved), SURROGATE),
        r"lone surrogate",
    ),
    "search with --candidates and no --reranker": (
        lambda c, corpus, tmp, mp: _search("--index", str(c.saved), "--candidates", "0", "q"),
        r"--candidates .*--reranker",
    ),
    "search with a bi-encoder as --reranker": (
        lambda c, corpus, tmp, mp: _search("--index", str(c.saved), "--reranker", str(c.bi_encoder_path), "q"),
        r"is a bi-encoder",
    ),
    "search with --candidates fewer than -k": (
        lambda c, corpus, tmp, mp: _search(
            "--index", str(c.saved), "--reranker", str(_ce(c)), "-k", "9", "--candidates", "3", "q"
        ),
        r"candidates=3 is fewer than k=9",
    ),
    "retrieval.train with a corpus that is not UTF-8": (
        lambda c, corpus, tmp, mp: _train_bi(_beir(tmp, b'{"_id": "a", "text": "caf\xe9"}\n'), tmp / "m"),
        r"not UTF-8",
    ),
    "retrieval.train on a folder that does not exist": (
        lambda c, corpus, tmp, mp: _train_bi(tmp / "nope", tmp / "m"),
        r"nope",
    ),
    "rerank.train with a missing --encoder": (
        lambda c, corpus, tmp, mp: _train_ce(corpus, tmp / "no-such-encoder", tmp / "ce"),
        r"cannot load encoder",
    ),
    "rerank.train with a config of a bad value": (
        lambda c, corpus, tmp, mp: _train_ce(corpus, c.bi_encoder_path, tmp / "ce", "--num-labels", "1", "--epochs", "0"),
        r"epochs must be at least 1",
    ),
    "benchmarks.run on a corpus that is not UTF-8": (
        lambda c, corpus, tmp, mp: _bench(_beir(tmp, b'{"_id": "a", "text": "caf\xe9"}\n'), tmp / "results"),
        r"corpus.jsonl:1: not UTF-8",
    ),
}


def _file(tmp):
    path = tmp / "thesis.tex"
    path.write_text("not an index")
    return path


def _ce(c):
    return c.reranker.name


def _train_bi(data, out):
    from retrieval.train.cli import main

    return main(["--data", str(data), "--out", str(out), "--quiet"])


def _train_ce(data, encoder, out, *extra):
    from rerank.train.cli import main

    return main(["--data", str(data), "--encoder", str(encoder), "--out", str(out), "--quiet", *extra])


def _bench(data, out):
    from benchmarks.run import main

    return main([str(data), "--out", str(out), "--stages", "bm25", "--no-progress"])


@pytest.mark.parametrize("case", list(CLI_BAD_INPUTS))
def test_command_line_reports_one_line_and_exits_2(ctx, corpus_file, tmp_path, monkeypatch, capsys, case):
    run, message = CLI_BAD_INPUTS[case]
    rc = run(ctx, corpus_file, tmp_path, monkeypatch)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert rc == 2, err
    assert len(errors) == 1 and err.rstrip().endswith(errors[0]), err  # progress lines may come before it
    assert "Traceback" not in err
    assert re.search(message, errors[0]), errors[0]


def test_a_failed_build_leaves_the_file_alone(ctx, corpus_file, tmp_path, capsys):
    target = _file(tmp_path)
    assert _build(ctx, corpus_file, target) == 2
    assert target.read_text() == "not an index"
    with pytest.raises(IndexFormatError):
        Searcher(target)
