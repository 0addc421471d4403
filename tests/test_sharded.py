"""Sharded indexes: same results as one index, shared IVF quantizer, checksums, generations, Ray shard actors."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from indexes import Document, Index, IndexFormatError
from indexes.shard_build import build_shard, plan_build, shard_bounds, train_shared, write_sharded
from indexes.shard_manifest import SHARDS_FILE, ShardsManifest
from indexes.sharded import (
    ShardedIndex,
    ShardUnavailableError,
    load_any_index,
    merge_top_k,
    set_search_params,
)
from tests.shard_support import TOLERANCE, agreement, kill, wait_for
from tests.shard_support import ray_cluster  # noqa: F401 - a fixture, used by name


def _random(n, d, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def _docs(ids):
    return [Document(str(i), f"text of {i}") for i in ids]


def _scifact_ids(shared_dir):
    """SciFact's corpus ids (5,183) and its test queries (300), read from the shared copy."""
    folder = shared_dir / "datasets" / "scifact"
    if not (folder / "corpus.jsonl").exists():
        pytest.skip(f"{folder} not found")
    with open(folder / "corpus.jsonl", encoding="utf-8") as handle:
        doc_ids = [json.loads(line)["_id"] for line in handle if line.strip()]
    lines = (folder / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]
    query_ids = sorted({line.split("\t")[0] for line in lines if line.strip()})
    return doc_ids, query_ids


@pytest.fixture(scope="module")
def scifact_vectors(shared_dir):
    doc_ids, query_ids = _scifact_ids(shared_dir)
    assert len(doc_ids) == 5183 and len(query_ids) == 300
    return _docs(doc_ids), _random(len(doc_ids), 64, seed=1), _random(len(query_ids), 64, seed=2)


def test_shard_bounds_are_contiguous_and_balanced():
    assert shard_bounds(10, 4) == [(0, 3), (3, 6), (6, 8), (8, 10)]
    assert shard_bounds(2, 3) == [(0, 1), (1, 2), (2, 2)]
    with pytest.raises(ValueError):
        shard_bounds(5, 0)


def test_merge_breaks_ties_by_shard_then_row():
    scores = np.array([[1.0, 1.0, 0.5]])
    per_shard = [(scores, np.array([[7, 2, 9]])), (scores, np.array([[0, 1, -1]]))]
    merged_scores, shard, row = merge_top_k(per_shard, 5)
    assert shard.tolist() == [[0, 0, 1, 1, 0]] and row.tolist() == [[2, 7, 0, 1, 9]]
    assert merged_scores.tolist() == [[1.0, 1.0, 1.0, 1.0, 0.5]]


def test_four_flat_shards_equal_one_flat_index_for_scifact_test_queries(tmp_path, scifact_vectors):
    docs, vectors, queries = scifact_vectors
    single = Index.create(64, "Flat", "cosine")
    single.add(docs, vectors)
    write_sharded(tmp_path / "s4", docs, vectors, shards=4, factory="Flat", metric="cosine")
    sharded = ShardedIndex.load(tmp_path / "s4")
    assert sharded.num_shards == 4 and len(sharded) == len(docs) == len(single)
    expected, found = single.search(queries, 100), sharded.search(queries, 100)
    identical, worst, ok = agreement(expected, found)
    print(f"\n4-shard Flat vs one Flat, 300 SciFact test queries, top-100: identical id lists {identical}/300, "
          f"max |score diff| {worst:.2e}")
    assert ok and worst <= TOLERANCE
    assert all(len(hits) == 100 for hits in found)


def test_shared_quantizer_ivf_reaches_single_ivf_recall(tmp_path, scifact_vectors):
    docs, vectors, queries = scifact_vectors
    exact = Index.create(64, "Flat", "cosine")
    exact.add(docs, vectors)
    truth = [{d.doc_id for d, _ in hits} for hits in exact.search(queries, 10)]
    single = Index.create(64, "IVF64,Flat", "cosine")
    single.vectors.train(single.prepare_vectors(vectors))
    single.add(docs, vectors)
    set_search_params(single, "nprobe=8")
    layout = write_sharded(tmp_path / "ivf4", docs, vectors, shards=4, factory="IVF64,Flat", metric="cosine")
    assert layout.trained is not None and layout.trained["train_size"] == len(docs)
    sharded = ShardedIndex.load(tmp_path / "ivf4", search_params="nprobe=8")

    def recall(found):
        return float(np.mean([len(t & {d.doc_id for d, _ in hits}) / 10 for t, hits in zip(truth, found)]))

    r_single, r_sharded = recall(single.search(queries, 10)), recall(sharded.search(queries, 10))
    print(f"\nIVF64 nprobe=8 recall@10: single {r_single:.4f}, 4 shards (shared quantizer) {r_sharded:.4f}, "
          f"ratio {r_sharded / r_single:.4f}")
    assert r_sharded >= 0.99 * r_single


def test_manifest_lists_checksums_and_corruption_is_refused(tmp_path):
    docs, vectors = _docs(range(30)), _random(30, 8)
    layout = write_sharded(tmp_path / "s", docs, vectors, shards=3, factory="Flat", metric="ip")
    on_disk = ShardsManifest.read(tmp_path / "s")
    assert on_disk == layout and [e.doc_count for e in layout.shards] == [10, 10, 10]
    first = layout.shards[0]
    assert all(len(entry["sha256"]) == 64 for entry in first.files.values())
    data = next(n for n in first.files if n.startswith("vectors"))
    target = tmp_path / "s" / first.name / data
    raw = bytearray(target.read_bytes())
    raw[-1] ^= 0xFF
    target.write_bytes(bytes(raw))
    with pytest.raises(IndexFormatError, match="checksum"):
        ShardedIndex.load(tmp_path / "s")
    target.write_bytes(bytes(raw[:-1]))
    with pytest.raises(IndexFormatError, match="truncated"):
        ShardedIndex.load(tmp_path / "s", verify=False)
    (tmp_path / "s" / SHARDS_FILE).unlink()
    with pytest.raises(IndexFormatError, match="not a sharded index|not an index"):
        load_any_index(tmp_path / "s")


def test_a_build_stopped_before_commit_leaves_the_previous_index(tmp_path):
    path = tmp_path / "s"
    docs, vectors = _docs(range(20)), _random(20, 8)
    write_sharded(path, docs, vectors, shards=2, factory="Flat", metric="ip")
    before = ShardedIndex.load(path).search(vectors[:3], 5)
    plan = plan_build(path, 2, 8, "Flat", "ip")
    assert plan.generation == 2
    build_shard(plan, 0, _docs(range(100, 110)), _random(10, 8, seed=5))  # then the process dies
    assert ShardedIndex.load(path).search(vectors[:3], 5) == before
    layout = write_sharded(path, _docs(range(200, 240)), _random(40, 8, seed=6), shards=4, factory="Flat", metric="ip")
    assert layout.generation == 3 and len(ShardedIndex.load(path)) == 40
    names = sorted(p.name for p in path.iterdir())
    assert names == [f"g0003-shard-0000{i}" for i in range(4)] + [SHARDS_FILE]


def test_more_shards_than_documents_and_load_any_index(tmp_path):
    docs, vectors = _docs(range(3)), _random(3, 4)
    write_sharded(tmp_path / "s", docs, vectors, shards=5, factory="Flat", metric="cosine")
    index = load_any_index(tmp_path / "s")
    assert isinstance(index, ShardedIndex) and index.num_shards == 5
    assert [d.doc_id for d, _ in index.search(vectors[:1], 10)[0]][0] == "0"
    single = Index.create(4, "Flat", "cosine")
    single.add(docs, vectors)
    single.save(tmp_path / "one")
    assert isinstance(load_any_index(tmp_path / "one"), Index)
    with pytest.raises(TypeError, match="sharded"):
        load_any_index(tmp_path / "one", ray=True)


def test_equal_scores_come_back_in_shard_then_row_order(tmp_path):
    vectors = np.tile(np.eye(4, dtype=np.float32)[:1], (12, 1))  # twelve identical vectors
    write_sharded(tmp_path / "s", _docs(range(12)), vectors, shards=3, factory="Flat", metric="ip")
    hits = ShardedIndex.load(tmp_path / "s").search(vectors[:1], 12)[0]
    assert [d.doc_id for d, _ in hits] == [str(i) for i in range(12)]


def test_train_shared_is_a_no_op_for_flat(tmp_path):
    plan = plan_build(tmp_path / "s", 2, 4, "HNSW8", "ip")
    assert train_shared(plan, _random(10, 4)) is plan


# --- Ray shard actors -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_sharded(tmp_path_factory):
    """4 Flat shards of 10,000 random vectors each: a 2,000-query search takes about a second."""
    path = tmp_path_factory.mktemp("ray_shards") / "s4"
    vectors = _random(40_000, 64, seed=3)
    write_sharded(path, _docs(range(40_000)), vectors, shards=4, factory="Flat", metric="cosine")
    queries = _random(2_000, 64, seed=4)
    return path, queries, ShardedIndex.load(path).search(queries, 100)


@pytest.mark.ray
@pytest.mark.usefixtures("ray_cluster")
def test_ray_shard_actors_give_the_in_process_results(big_sharded):
    path, queries, expected = big_sharded
    with ShardedIndex.load(path, ray=True) as index:
        found = index.search(queries, 100)
    identical, worst, ok = agreement(expected, found)
    print(f"\nRay shards vs in-process: identical id lists {identical}/2000, max |score diff| {worst:.2e}")
    assert ok and worst <= TOLERANCE


def _search_while_killing(index, queries, shard):
    """Search on another thread and SIGKILL one shard actor while the query is in flight."""
    pid = index.backend.pids()[shard][0]
    outcome = {}

    def run():
        try:
            outcome["hits"] = index.search(queries, 100)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    threading.Event().wait(0.3)
    assert thread.is_alive(), "the query finished before the kill: make it bigger"
    kill(pid)
    thread.join(timeout=300)
    return pid, outcome


@pytest.mark.ray
@pytest.mark.usefixtures("ray_cluster")
def test_a_shard_actor_killed_mid_query_is_restarted_and_the_query_answers_in_full(big_sharded):
    path, queries, expected = big_sharded
    with ShardedIndex.load(path, ray=True, max_restarts=2, max_task_retries=2) as index:
        pid, outcome = _search_while_killing(index, queries, shard=1)
        assert "error" not in outcome, outcome.get("error")
        identical, worst, ok = agreement(expected, outcome["hits"])
        assert ok and worst <= TOLERANCE
        assert index.backend.pids()[1][0] != pid  # a new process serves shard 1


@pytest.mark.ray
@pytest.mark.usefixtures("ray_cluster")
def test_a_shard_actor_killed_without_restarts_fails_the_query_with_a_typed_error(big_sharded):
    path, queries, _ = big_sharded
    with ShardedIndex.load(path, ray=True, max_restarts=0, max_task_retries=0) as index:
        _, outcome = _search_while_killing(index, queries, shard=2)
        assert "hits" not in outcome
        assert isinstance(outcome["error"], ShardUnavailableError), outcome["error"]
        assert "shard 2" in str(outcome["error"])
        with pytest.raises(ShardUnavailableError):  # and the next query too: never a partial result
            index.search(queries[:5], 10)


@pytest.mark.ray
@pytest.mark.usefixtures("ray_cluster")
def test_a_replica_takes_over_from_a_killed_one(big_sharded):
    path, queries, expected = big_sharded
    with ShardedIndex.load(path, ray=True, replicas=2, max_restarts=0, max_task_retries=0) as index:
        victim = index.backend.pids()[0]
        for pid in victim[:1]:
            kill(pid)
        wait_for(lambda: not _alive(victim[0]), 10, "the killed replica to exit")
        for _ in range(2):  # both turns of the rotation land on shard 0 once
            found = index.search(queries[:50], 100)
            _, worst, ok = agreement(expected[:50], found)
            assert ok and worst <= TOLERANCE


def _alive(pid):
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_four_flat_shards_equal_one_flat_index_with_real_minilm_embeddings(tmp_path, shared_dir):
    """The same check on SciFact as all-MiniLM-L6-v2 embeds it: 5,183 abstracts, the 300 test queries (minutes on 2 cores)."""
    from benchmarks.collection import load_beir
    from retrieval import Encoder
    from retrieval.pretrained import PackageNotInstalledError

    folder = shared_dir / "datasets" / "scifact"
    if not (folder / "corpus.jsonl").exists():
        pytest.skip(f"{folder} not found")
    try:
        encoder = Encoder.load("sentence-transformers/all-MiniLM-L6-v2", device="cpu")
    except PackageNotInstalledError as exc:
        pytest.skip(f"the packaged model is not installed: {exc}")
    data = load_beir(folder)
    qids = sorted(data.qrels)
    vectors = encoder.encode_documents(data.corpus, show_progress=False)
    single = Index.create(encoder.dim, "Flat", encoder.metric)
    single.add(data.corpus, vectors)
    write_sharded(tmp_path / "s4", data.corpus, vectors, shards=4, factory="Flat", metric=encoder.metric)
    queries = encoder.encode_queries([data.queries[q] for q in qids])
    expected, found = single.search(queries, 100), ShardedIndex.load(tmp_path / "s4").search(queries, 100)
    identical, worst, ok = agreement(expected, found)
    print(f"\nreal MiniLM, 4-shard Flat vs one Flat, {len(qids)} SciFact test queries, top-100: identical id lists "
          f"{identical}/{len(qids)}, max |score diff| {worst:.2e}")
    assert len(qids) == 300 and ok and worst <= TOLERANCE
