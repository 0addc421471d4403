"""Bad input to the storage layer gets a typed error that says what to do; `remove` takes ids only."""

from __future__ import annotations

import pytest

from indexes import CorpusError, FactoryError, Index, VectorIndex, read_corpus
from tests.index_helpers import DIM, make_index, vectors


@pytest.mark.parametrize("bare", ["12", b"12", bytearray(b"12")])
def test_remove_refuses_a_bare_string_and_removes_nothing(bare):
    index = make_index(20)
    with pytest.raises(TypeError, match=r"remove takes a list of document ids.*write remove\(\["):
        index.remove(bare)
    assert len(index) == 20 and "d1" in index.docs and "d2" in index.docs


def test_remove_counts_what_it_removed_each_id_once():
    index = make_index(20)
    assert index.remove(["d1", "d1", "d2"]) == 2
    assert index.remove(iter(["d3"])) == 1
    index.add([{"_id": 7, "text": "an integer id"}], vectors(1, seed=2))
    assert index.docs.doc_ids[-1] == "7"
    assert index.remove([7]) == 1  # `add` stores integer ids as strings; `remove` finds them the same way
    assert index.remove([]) == 0
    assert len(index) == 17 and index.vectors.ntotal == 17


def test_remove_with_an_unknown_or_non_string_id_removes_nothing():
    index = make_index(20)
    with pytest.raises(KeyError, match="nope"):
        index.remove(["d1", "nope"])
    with pytest.raises(TypeError, match="document ids are strings"):
        index.remove(["d1", None])
    assert len(index) == 20 and index.vectors.ntotal == 20


STORAGE_BAD_INPUTS = {
    "IVF with fewer documents than centroids": (
        lambda tmp: make_index(300, factory="IVF1024,PQ8"),
        FactoryError,
        r"'IVF1024,PQ8' needs at least 1024 training vectors \(one per cluster\), got 300: use fewer IVF lists",
    ),
    "PQ with fewer documents than its centroids": (
        lambda tmp: VectorIndex(DIM, "IVF4,PQ4", "ip").train(vectors(100, 1)),
        FactoryError,
        r"needs at least 256 training vectors",
    ),
    "an empty corpus list": (lambda tmp: read_corpus([]), CorpusError, "the corpus holds no documents"),
    "an empty corpus.jsonl": (
        lambda tmp: read_corpus(_write(tmp / "corpus.jsonl", b"\n")),
        CorpusError,
        r"corpus.jsonl: the corpus holds no documents",
    ),
    "a non-UTF-8 corpus.jsonl": (
        lambda tmp: read_corpus(_write(tmp / "corpus.jsonl", b'{"_id": "a", "text": "ok"}\n{"text": "\xe9"}\n')),
        CorpusError,
        r"corpus.jsonl:2: not UTF-8 \(byte 0xe9 at column 11\); re-encode the file as UTF-8",
    ),
    "corpus text with a lone surrogate": (
        lambda tmp: read_corpus([{"_id": "a", "text": "caf\udce9"}]),
        CorpusError,
        r"record 0 \(id 'a'\): text holds a lone surrogate '\\udce9' at position 3",
    ),
    "an unknown factory string": (lambda tmp: Index.create(DIM, "IVFxyz"), FactoryError, "cannot build factory"),
}


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", list(STORAGE_BAD_INPUTS))
def test_bad_input_gets_a_typed_error(tmp_path, case):
    make, error, message = STORAGE_BAD_INPUTS[case]
    with pytest.raises(error, match=message):
        make(tmp_path)


def test_factory_errors_stay_value_errors_for_callers_that_catch_those():
    assert issubclass(FactoryError, ValueError) and issubclass(CorpusError, ValueError)
