"""`python -m benchmarks.scale` runs end to end at toy sizes and writes its JSON and table."""

from __future__ import annotations

import json

import pytest

from tests.shard_support import ray_cluster  # noqa: F401 - a fixture, used by name


@pytest.mark.ray
@pytest.mark.usefixtures("ray_cluster")
@pytest.mark.slow
def test_scale_benchmark_writes_every_table(tmp_path, tiny_encoder_path, toy_corpus, capsys):
    from benchmarks.scale import main

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in toy_corpus), encoding="utf-8")
    argv = ["--corpus", str(corpus), "--model", str(tiny_encoder_path), "--docs", "30", "--workers", "1",
            "--block-rows", "10", "--vectors", "2000", "--dim", "64", "--shards", "1,2", "--batch", "50",
            "--singles", "5", "--memory-rows", "2000", "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    result = json.loads((tmp_path / "out" / "scale.json").read_text())
    assert [r["mode"] for r in result["encode"]] == ["one process", "Ray Data"]
    assert [(r["mode"], r["shards"]) for r in result["search"]][1:] == [
        ("in-process shards", 1), ("Ray shard actors", 1), ("in-process shards", 2), ("Ray shard actors", 2)]
    assert [r["what"] for r in result["memory"]][-1].startswith("DocStore")
    assert "batch QPS" in capsys.readouterr().out
