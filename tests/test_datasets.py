"""Dataset loading: BEIR folders, TREC files, MS MARCO subset mode and fallbacks, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.datasets import DatasetNotFoundError, load_beir, load_dataset, sample_queries
from benchmarks.msmarco import DEV_QRELS, DEV_TOPICS, subset_corpus
from benchmarks.trec import read_beir_qrels, read_run, read_trec_qrels, read_trec_topics, write_run


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def make_beir(folder: Path, n_docs: int = 12, grades: tuple[int, ...] = (1,), train: bool = True) -> Path:
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w") as f:
        for i in range(n_docs):
            f.write(json.dumps({"_id": f"d{i}", "title": f"title {i}", "text": f"text of document {i}"}) + "\n")
    with open(folder / "queries.jsonl", "w") as f:
        for i in range(6):
            f.write(json.dumps({"_id": str(i), "text": f"query {i}", "metadata": {}}) + "\n")
    with open(folder / "qrels" / "test.tsv", "w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for i in range(3):
            f.write(f"{i}\td{i}\t{grades[i % len(grades)]}\n")
    if train:
        with open(folder / "qrels" / "train.tsv", "w") as f:
            f.write("query-id\tcorpus-id\tscore\n3\td3\t1\n4\td4\t1\n")
    return folder


def test_beir_folder_test_and_train_splits(tmp_path):
    ds = load_beir(make_beir(tmp_path / "toy"))
    assert ds.name == "toy" and len(ds.corpus) == 12 and ds.corpus[0].title == "title 0"
    assert dict(ds.queries) == {"0": "query 0", "1": "query 1", "2": "query 2"}  # judged ones only
    assert ds.qrels == {"0": {"d0": 1}, "1": {"d1": 1}, "2": {"d2": 1}}
    assert dict(ds.train_queries) == {"3": "query 3", "4": "query 4"}
    assert not set(ds.train_qrels) & set(ds.qrels)
    with pytest.raises(DatasetNotFoundError, match=r"no qrels/dev.tsv \(splits present: \['test', 'train'\]\)"):
        load_beir(tmp_path / "toy", split="dev")


def test_resolve_by_name_under_data_dir_and_by_path(tmp_path):
    make_beir(tmp_path / "data" / "toy")
    assert load_dataset("toy", tmp_path / "data").source == str(tmp_path / "data" / "toy")
    assert load_dataset(str(tmp_path / "data" / "toy"), "elsewhere").name == "toy"


def test_missing_dataset_says_where_it_looked_and_how_to_provide_it(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("scifact", tmp_path / "nowhere")
    message = str(err.value)
    assert str(tmp_path / "nowhere" / "scifact") in message
    assert "BeIR/scifact" in message and "offline" in message
    assert "corpus.jsonl, queries.jsonl, qrels/test.tsv" in message and "--data-dir" in message


def test_msmarco_offline_falls_back_to_the_dl19_mini_corpus(tmp_path):
    make_beir(tmp_path / "msmarco-dl19-mini", grades=(1, 2, 3), train=False)
    ds = load_dataset("msmarco", tmp_path)
    assert ds.name == "msmarco" and ds.split == "dl19" and ds.relevance_level == 2
    assert "TREC DL 2019 mini" in ds.notes[0]
    assert load_dataset("msmarco-dl19-mini", tmp_path).relevance_level == 2
    with pytest.raises(DatasetNotFoundError, match="collection.tsv"):
        load_dataset("msmarco", tmp_path / "empty")


def test_msmarco_user_collection_subset_mode(tmp_path):
    local = tmp_path / "msmarco-passage"
    local.mkdir()
    (local / "collection.tsv").write_text("".join(f"{i}\tpassage number {i}\n" for i in range(500)))
    (local / DEV_TOPICS).write_text("1\tfirst question\n2\tsecond question\n3\tunjudged question\n")
    (local / DEV_QRELS).write_text("1 0 17 1\n2 0 400 1\n2 0 3 1\n")
    ds = load_dataset("msmarco", tmp_path, pool_size=50, seed=1)
    ids = [d.doc_id for d in ds.corpus]
    assert len(ids) == 53 and len(set(ids)) == 53 and {"17", "400", "3"} <= set(ids)
    assert set(ds.queries) == {"1", "2"} and ds.relevance_level == 1
    assert "3 judged passages + 50 distractors" in ds.notes[0]
    again = load_dataset("msmarco", tmp_path, pool_size=50, seed=1)
    assert [d.doc_id for d in again.corpus] == ids  # seeded


def test_subset_corpus_samples_uniformly_and_refuses_missing_judged():
    counts = {}
    for seed in range(200):
        docs, seen = subset_corpus(((str(i), "t") for i in range(20)), {"0"}, pool_size=5, seed=seed)
        assert seen == 20 and len(docs) == 6 and docs[0].doc_id == "0"
        for d in docs[1:]:
            counts[d.doc_id] = counts.get(d.doc_id, 0) + 1
    # each of the 19 others is kept with probability 5/19 (~53 of 200 draws)
    assert len(counts) == 19 and min(counts.values()) > 25 and max(counts.values()) < 85
    with pytest.raises(ValueError, match="judged passages are not in the collection"):
        subset_corpus([("1", "t")], {"9"}, pool_size=3)


def test_sample_queries_is_seeded_and_noted(tmp_path):
    ds = load_beir(make_beir(tmp_path / "toy"))
    small = sample_queries(ds, 2, seed=3)
    assert len(small.queries) == 2 and set(small.qrels) == set(small.queries)
    assert small.queries == sample_queries(ds, 2, seed=3).queries
    assert "2 of 3 judged queries" in small.notes[-1]


def test_trec_files_round_trip(tmp_path):
    (tmp_path / "q.txt").write_text("1 0 a 2\n1 0 b 0\n2 Q0 c 1\n")
    assert read_trec_qrels(tmp_path / "q.txt") == {"1": {"a": 2, "b": 0}, "2": {"c": 1}}
    (tmp_path / "t.txt").write_text("1\twhat is x\n2\t who \n")
    assert read_trec_topics(tmp_path / "t.txt") == {"1": "what is x", "2": "who"}
    (tmp_path / "b.tsv").write_text("query-id\tcorpus-id\tscore\nq\td\t1\n")
    assert read_beir_qrels(tmp_path / "b.tsv") == {"q": {"d": 1}}
    run = {"q1": {"a": 0.5, "b": 1.25, "c": 1.25}, "q2": {"z": -3.0}}
    path = write_run(run, tmp_path / "run.trec", tag="dense+rerank")
    lines = path.read_text().splitlines()
    assert lines[0] == "q1 Q0 c 1 1.25 dense+rerank" and lines[1].startswith("q1 Q0 b 2 ")  # ties: doc id desc
    assert read_run(path) == run
    (tmp_path / "bad.txt").write_text("1 0 a\n")
    with pytest.raises(ValueError, match="bad.txt:1"):
        read_trec_qrels(tmp_path / "bad.txt")


def test_shared_collections_have_the_published_counts(shared_dir):
    data = shared_dir / "datasets"
    scifact = load_dataset("scifact", data)
    assert (len(scifact.corpus), len(scifact.queries), sum(map(len, scifact.qrels.values()))) == (5183, 300, 339)
    assert len(scifact.train_queries) == 809
    dl19 = load_dataset("msmarco", data)
    assert (len(dl19.corpus), len(dl19.queries), dl19.relevance_level) == (5000, 43, 2)


def test_scifact_online_unpacks_the_hub_files_into_a_beir_folder(tmp_path, monkeypatch):
    """The hub loader against a stand-in for huggingface_hub's downloader (the network is not here)."""
    import gzip

    import huggingface_hub
    from huggingface_hub.errors import EntryNotFoundError

    source = make_beir(tmp_path / "src")
    served = {}
    for name in ("corpus.jsonl", "queries.jsonl"):
        served["BeIR/scifact", name + ".gz"] = tmp_path / (name + ".gz")
        with open(source / name, "rb") as src, gzip.open(served["BeIR/scifact", name + ".gz"], "wb") as dst:
            dst.write(src.read())
    for part in ("train", "test"):
        served["BeIR/scifact-qrels", f"{part}.tsv"] = source / "qrels" / f"{part}.tsv"

    def fake_download(repo_id, filename, repo_type=None):
        assert repo_type == "dataset"
        if (repo_id, filename) not in served:
            raise EntryNotFoundError(f"{repo_id}/{filename}")
        return str(served[repo_id, filename])

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    ds = load_dataset("scifact", tmp_path / "no-local-copy", online=True)
    folder = tmp_path / "home" / ".cache" / "twostage" / "beir" / "scifact"
    assert ds.source.startswith("hub:BeIR/scifact") and (folder / "corpus.jsonl").exists()
    assert len(ds.corpus) == 12 and len(ds.queries) == 3 and len(ds.train_qrels) == 2
    assert not (folder / "qrels" / "dev.tsv").exists()
