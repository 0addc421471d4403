"""Distributed encoding: blocks cut and read exactly once, Ray embeddings equal one process, resume, kills."""

from __future__ import annotations

import json
import threading

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from indexes import CorpusError, Index, read_corpus
from indexes.sharded import ShardedIndex
from retrieval.blocks import EmbeddingBlocks, plan_blocks, read_block
from tests.shard_support import TOLERANCE, agreement, kill, wait_for
from tests.shard_support import ray_cluster  # noqa: F401 - a fixture, used by name


def _write_jsonl(path, records, blank_every=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for i, record in enumerate(records):
            handle.write(json.dumps(record) + "\n")
            if blank_every and i % blank_every == 0:
                handle.write("\n")
    return path


def _scifact_records(shared_dir, n):
    source = shared_dir / "datasets" / "scifact" / "corpus.jsonl"
    if not source.exists():
        pytest.skip(f"{source} not found")
    with open(source, encoding="utf-8") as handle:
        return [json.loads(line) for _, line in zip(range(n), handle)]


@pytest.mark.parametrize("block_rows", [1, 3, 7, 50])
def test_jsonl_blocks_read_every_line_exactly_once(tmp_path, toy_corpus, block_rows):
    path = _write_jsonl(tmp_path / "corpus.jsonl", toy_corpus, blank_every=4)
    plan = plan_blocks(path, block_rows=block_rows)
    ids = [d.doc_id for block in plan.blocks for d in read_block(block)]
    assert ids == [r["_id"] for r in toy_corpus]


def test_parquet_blocks_are_row_ranges_across_row_groups(tmp_path, toy_corpus):
    path = tmp_path / "corpus.parquet"
    pq.write_table(pa.Table.from_pylist(toy_corpus), path, row_group_size=6)
    plan = plan_blocks(tmp_path / "corpus.parquet", block_rows=8)
    assert [(b.start, b.stop) for b in plan.blocks] == [(0, 8), (8, 16), (16, 24), (24, 32), (32, 40)]
    assert [d.doc_id for b in plan.blocks for d in read_block(b)] == [r["_id"] for r in toy_corpus]
    assert read_block(plan.blocks[1])[0] == read_corpus(path)[8]


@pytest.fixture(scope="module")
def scifact_300(shared_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("scifact_300")
    _write_jsonl(folder / "corpus.jsonl", _scifact_records(shared_dir, 300))
    return folder


@pytest.fixture(scope="module")
def single_process(scifact_300, tiny_encoder):
    docs = read_corpus(scifact_300)
    return docs, tiny_encoder.encode_documents(docs, show_progress=False)


@pytest.mark.ray
@pytest.mark.usefixtures("ray_cluster")
def test_ray_embeddings_equal_single_process_and_a_rerun_encodes_only_missing_blocks(
    scifact_300, single_process, tiny_encoder_path, tmp_path
):
    from retrieval.distributed import encode_corpus, read_log

    docs, expected = single_process
    out = tmp_path / "emb"
    blocks = encode_corpus(scifact_300, str(tiny_encoder_path), out, workers=2, block_rows=40)
    assert len(blocks.plan.blocks) > 4
    diff = float(np.abs(blocks.vectors() - expected).max())
    print(f"\nRay pipeline (2 actors, {len(blocks.plan.blocks)} blocks) vs one process: max |diff| {diff:.2e}")
    assert diff <= TOLERANCE
    assert blocks.documents() == docs
    first_run = read_log(out)
    assert sorted(r["block"] for r in first_run) == [b.index for b in blocks.plan.blocks]

    (out / "blocks" / "000002.npy").unlink()  # as if the worker died before finishing block 2
    assert [b.index for b in EmbeddingBlocks(out).missing()] == [2]
    again = encode_corpus(scifact_300, str(tiny_encoder_path), out, workers=1, block_rows=40)
    assert [r["block"] for r in read_log(out)[len(first_run):]] == [2]
    assert np.abs(again.vectors() - expected).max() <= TOLERANCE


def _finished(out):
    return len(list((out / "blocks").glob("*.npy"))) if (out / "blocks").exists() else 0


def _encoder_actors():
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        command = " ".join(proc.info["cmdline"] or [])
        if "MapWorker(MapBatches(EncodeBlocks))" in command and "__init__" not in command:
            found.append(proc.info["pid"])
    return found


@pytest.mark.ray
@pytest.mark.usefixtures("ray_cluster")
def test_an_encoder_worker_killed_mid_run_is_retried_by_ray(
    scifact_300, single_process, tiny_encoder_path, tmp_path
):
    from retrieval.distributed import encode_corpus, read_log

    docs, expected = single_process
    out = tmp_path / "emb"
    outcome = {}

    def run():
        try:
            outcome["blocks"] = encode_corpus(scifact_300, str(tiny_encoder_path), out, workers=2, block_rows=8)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    wait_for(lambda: _finished(out) >= 2, 240, "two finished blocks")
    victim = wait_for(_encoder_actors, 30, "a running encoder actor")[0]
    finished_before = _finished(out)
    assert thread.is_alive()
    kill(victim)
    thread.join(timeout=300)
    assert "error" not in outcome, outcome.get("error")
    blocks = outcome["blocks"]
    log = read_log(out)
    print(f"\nkilled encoder actor {victim} after {finished_before}/{len(blocks.plan.blocks)} blocks; "
          f"the run finished with {len(log)} block records, pids {sorted({r['pid'] for r in log})}")
    assert sorted(r["block"] for r in log) == [b.index for b in blocks.plan.blocks]  # each block once
    assert {r["pid"] for r in log} - {victim}  # others (a restarted actor or the second) finished the rest
    assert np.abs(blocks.vectors() - expected).max() <= TOLERANCE and blocks.documents() == docs


@pytest.mark.ray
@pytest.mark.usefixtures("ray_cluster")
def test_build_sharded_on_ray_matches_one_index_built_in_process(
    scifact_300, single_process, tiny_encoder, tmp_path
):
    from retrieval.distributed import build_sharded

    docs, vectors = single_process
    parquet = tmp_path / "corpus.parquet"
    pq.write_table(pa.Table.from_pylist(_scifact_records_from(scifact_300)), parquet)
    layout = build_sharded(parquet, tiny_encoder, tmp_path / "idx", shards=3, ray=True, workers=2, block_rows=64)
    assert [e.doc_count for e in layout.shards] == [100, 100, 100]
    assert layout.encoder["name"] == tiny_encoder.name
    single = Index.create(tiny_encoder.dim, "Flat", tiny_encoder.metric)
    single.add(docs, vectors)
    queries = tiny_encoder.encode_queries([d.title or d.text[:50] for d in docs[:40]])
    for ray in (None, True):
        with ShardedIndex.load(tmp_path / "idx", ray=ray) as sharded:
            _, worst, ok = agreement(single.search(queries, 20), sharded.search(queries, 20))
            assert ok and worst <= TOLERANCE
    assert (tmp_path / "idx.embeddings" / "plan.json").exists()  # kept: a rerun resumes from it


def _scifact_records_from(folder):
    with open(folder / "corpus.jsonl", encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    return [{k: v for k, v in r.items() if k != "metadata"} for r in records]  # {} has no Parquet type


@pytest.mark.ray
@pytest.mark.usefixtures("ray_cluster")
@pytest.mark.slow
def test_a_bad_record_fails_the_run_with_a_corpus_error(tmp_path, tiny_encoder_path, toy_corpus):
    from retrieval.distributed import encode_corpus

    records = [dict(r) for r in toy_corpus]
    records[17]["text"] = "   "
    _write_jsonl(tmp_path / "bad" / "corpus.jsonl", records)
    with pytest.raises(CorpusError, match="empty text"):
        encode_corpus(tmp_path / "bad", str(tiny_encoder_path), tmp_path / "emb", workers=1, block_rows=10)


def test_a_changed_corpus_is_refused_by_its_old_embeddings_folder(tmp_path, toy_corpus):
    from retrieval.distributed import resume_plan

    path = _write_jsonl(tmp_path / "c" / "corpus.jsonl", toy_corpus)
    first = resume_plan(path, tmp_path / "emb", 10)
    assert resume_plan(path, tmp_path / "emb", 25) == first  # a rerun keeps the saved cut
    _write_jsonl(path, toy_corpus[:-1])
    with pytest.raises(CorpusError, match="changed"):
        resume_plan(path, tmp_path / "emb", 10)
