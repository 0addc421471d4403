"""The stage-1 seed-spread benchmark: members alone, their joins, the summary and the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.seed_spread import main, parse_overrides, seed_spread, summarise
from retrieval.train.config import BiEncoderConfig

TOPICS = ["faiss vector search", "protein folding", "climate models", "football scores", "jazz music"]
TINY = ["dim=16", "epochs=1", "mining_rounds=0", "batch_size=16", "vocab_size=300", "sentences_per_doc=1"]


def make_beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w") as f:
        for i in range(30):
            t = TOPICS[i % 5]
            f.write(json.dumps({"_id": f"d{i}", "title": f"{t} note {i}",
                                "text": f"Passage {i} is about {t}. It mentions item {i} once. Another sentence covers {t}."}) + "\n")
    with open(folder / "queries.jsonl", "w") as f:
        for i in range(10):
            f.write(json.dumps({"_id": f"q{i}", "text": f"what about {TOPICS[i % 5]} item {i}"}) + "\n")
    for split, ids in (("test", range(5)), ("train", range(5, 10))):
        with open(folder / "qrels" / f"{split}.tsv", "w") as f:
            f.write("query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in ids))
    return folder


def test_members_and_joins_are_scored_on_every_split(tmp_path):
    data = make_beir(tmp_path / "data" / "toy")
    out = tmp_path / "out"
    assert main(["toy", "--data-dir", str(data.parent), "--seeds", "2", "--joins", "1,2", "--out", str(out),
                 "--no-progress", *sum((["--set", s] for s in TINY), [])]) == 0
    record = json.loads((out / "members.json").read_text())
    rows = record["rows"]
    assert [(r["kind"], r["seeds"], r["split"]) for r in rows] == [
        ("member", [0], "train"), ("member", [0], "test"), ("member", [1], "train"), ("member", [1], "test"),
        ("join", [0], "train"), ("join", [0], "test"), ("join", [0, 1], "train"), ("join", [0, 1], "test"),
    ]
    by = {(r["kind"], tuple(r["seeds"]), r["split"]): r["ndcg@10"] for r in rows}
    for split in ("train", "test"):
        assert by[("join", (0,), split)] == by[("member", (0,), split)]  # the first member alone, scored again
        assert all(0.0 <= v <= 1.0 for v in by.values())
    assert record["config"]["dim"] == 16 and record["config"]["use_labels"] is False
    assert (out / "spread.png").stat().st_size > 0 and (out / "members.csv").read_text().count("\n") == 9
    train_line = record["summary"][0]
    members = [by[("member", (s,), "train")] for s in (0, 1)]
    assert train_line["split"] == "train" and train_line["min"] == min(members) and train_line["max"] == max(members)
    assert train_line["join 2"] == by[("join", (0, 1), "train")]


def test_summary_statistics():
    rows = [{"kind": "member", "seeds": [s], "split": "dev", "ndcg@10": v} for s, v in enumerate([0.6, 0.7, 0.8])]
    line = summarise(rows)[0]
    assert line["mean"] == 0.7 and line["sd"] == 0.1 and line["members"] == 3 and "join 1" not in line


def test_refusals(tmp_path):
    data = make_beir(tmp_path / "data" / "toy")
    with pytest.raises(ValueError, match="between 1 and --seeds"):
        seed_spread([], {}, 2, [3], None)
    with pytest.raises(ValueError, match="from-scratch static members"):
        seed_spread([], {}, 2, [2], BiEncoderConfig(architecture="transformer"))
    with pytest.raises(ValueError, match="one vocabulary"):
        seed_spread([], {}, 2, [2], BiEncoderConfig(vocab_sizes=(8000,)))
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(["dim"])
    with pytest.raises(SystemExit):  # --labels trains on the train split: scoring it would flatter stage 1
        main(["toy", "--data-dir", str(data.parent), "--labels", "--splits", "train,test"])
    with pytest.raises(SystemExit):
        main(["missing", "--data-dir", str(data.parent)])
    with pytest.raises(ValueError, match="unknown bi-encoder config keys"):
        main(["toy", "--data-dir", str(data.parent), "--set", "dimension=16"])
