"""The stage-1 command lines, called in-process."""

from __future__ import annotations

import json

import pytest

from indexes.build import main as build_main
from retrieval.search import main as search_main


@pytest.fixture()
def corpus_file(tmp_path, toy_corpus):
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in toy_corpus) + "\n")
    return path


def test_build_then_search_json(tmp_path, corpus_file, tiny_encoder_path, capsys):
    out = tmp_path / "idx"
    assert build_main(["--corpus", str(corpus_file), "--encoder", str(tiny_encoder_path), "--out", str(out)]) == 0
    assert "indexed 40 documents" in capsys.readouterr().out
    assert search_main(["--index", str(out), "-k", "3", "--json", "jazz music"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert [h["rank"] for h in hits] == [1, 2, 3]
    assert {"doc_id", "score", "rank"} <= set(hits[0])
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]
    assert search_main(["--index", str(out), "jazz music"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 10


def test_build_with_hnsw_factory(tmp_path, corpus_file, tiny_encoder_path, capsys):
    out = tmp_path / "idx"
    args = ["--corpus", str(corpus_file), "--encoder", str(tiny_encoder_path), "--out", str(out), "--factory", "HNSW8"]
    assert build_main(args) == 0
    assert json.loads((out / "manifest.json").read_text())["factory"] == "HNSW8"


def test_errors_are_reported_not_raised(tmp_path, corpus_file, tiny_encoder_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"_id": "a", "text": "x"}\n{"_id": "a", "text": "y"}\n')
    assert build_main(["--corpus", str(bad), "--encoder", str(tiny_encoder_path), "--out", str(tmp_path / "o")]) == 2
    assert "duplicate id" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert search_main(["--index", str(tmp_path / "nothing"), "q"]) == 2
    assert "not an index directory" in capsys.readouterr().err
    out = tmp_path / "idx"
    build_main(["--corpus", str(corpus_file), "--encoder", str(tiny_encoder_path), "--out", str(out)])
    assert search_main(["--index", str(out), "   "]) == 2
    assert "empty" in capsys.readouterr().err


def test_help_exits_cleanly(capsys):
    for main in (build_main, search_main):
        with pytest.raises(SystemExit) as done:
            main(["--help"])
        assert done.value.code == 0
    assert "--factory" in capsys.readouterr().out


def test_build_with_the_packed_encoder_gives_the_same_index(tmp_path, corpus_file, tiny_encoder_path, capsys):
    from indexes import Index

    common = ["--corpus", str(corpus_file), "--encoder", str(tiny_encoder_path)]
    assert build_main([*common, "--out", str(tmp_path / "torch"), "--backend", "torch"]) == 0
    assert build_main([*common, "--out", str(tmp_path / "packed"), "--backend", "packed"]) == 0
    capsys.readouterr()
    on_torch, packed = Index.load(tmp_path / "torch"), Index.load(tmp_path / "packed")
    assert packed.manifest.encoder["probe"] == pytest.approx(on_torch.manifest.encoder["probe"], abs=1e-5)
    assert search_main(["--index", str(tmp_path / "packed"), "-k", "3", "--json", "jazz music"]) == 0
    packed_hits = [h["doc_id"] for h in json.loads(capsys.readouterr().out)]
    assert search_main(["--index", str(tmp_path / "torch"), "-k", "3", "--json", "jazz music"]) == 0
    assert packed_hits == [h["doc_id"] for h in json.loads(capsys.readouterr().out)]


def test_build_no_progress_draws_no_bar(tmp_path, corpus_file, tiny_encoder_path, capsys):
    common = ["--corpus", str(corpus_file), "--encoder", str(tiny_encoder_path)]
    assert build_main([*common, "--out", str(tmp_path / "shown")]) == 0
    assert "it/s]" in capsys.readouterr().err  # the corpus encoding's bar, by default
    assert build_main([*common, "--out", str(tmp_path / "quiet"), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "indexed 40 documents" in captured.out and "it/s]" not in captured.err and "%|" not in captured.err
