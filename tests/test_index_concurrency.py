"""Concurrent writers, in real processes: no update is lost; a busy lock is a clear error; readers never fail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from indexes import Index, IndexConflictError
from tests.index_helpers import make_index, state

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}

WRITER = """
import json, sys, time
from pathlib import Path
import numpy as np
from indexes import Document, Index, IndexConflictError

path, me, other, rounds, sync = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), Path(sys.argv[5])

def barrier(r):
    (sync / f"{me}-{r}").touch()
    deadline = time.time() + 60
    while not (sync / f"{other}-{r}").exists():
        if time.time() > deadline:
            sys.exit("the other writer never came")
        time.sleep(0.002)

conflicts = []
for r in range(rounds):
    batch = [Document(f"{me}-{r}-{i}", f"{me} round {r} document {i}") for i in range(3)]
    vectors = np.random.default_rng(2 * r + (me == "b")).standard_normal((3, 8)).astype("float32")
    index = Index.load(path)
    barrier(r)  # both writers hold the same version before either saves
    while True:
        index.add(batch, vectors)
        try:
            index.save(path)
            break
        except IndexConflictError as exc:
            conflicts.append(str(exc))
            index = Index.load(path)  # redo the change on the version saved meanwhile
print(json.dumps({"conflicts": conflicts}))
"""

HOLDER = """
import sys
from indexes.directory import IndexDirectory
with IndexDirectory(sys.argv[1]).writing(lock_timeout=5):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_two_writer_processes_lose_no_update(tmp_path):
    path = make_index().save(tmp_path / "idx")
    rounds = 4
    sync = tmp_path / "sync"
    sync.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), me, other, str(rounds), str(sync)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
        )
        for me, other in (("a", "b"), ("b", "a"))
    ]  # fmt: skip
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    conflicts = [c for r in results for c in r["conflicts"]]
    assert len(conflicts) >= rounds  # in every round one writer found the other's save and redid its change
    assert all("another writer saved it" in c and "Load it again" in c for c in conflicts)
    ids = set(Index.load(path).docs.doc_ids)
    expected = {f"{me}-{r}-{i}" for me in "ab" for r in range(rounds) for i in range(3)}
    assert expected <= ids and len(ids) == 30 + len(expected)


def test_a_writer_holding_the_lock_gives_a_clear_error_and_readers_still_load(tmp_path):
    path = make_index().save(tmp_path / "idx")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        index = Index.load(path)  # readers take no lock
        with pytest.raises(IndexConflictError, match=r"another writer is saving this index \(it holds .*\.lock\)"):
            index.save(path, lock_timeout=0.2)
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    index.save(path, lock_timeout=5)
    assert Index.load(path).manifest.generation == 2


def test_loads_during_saves_always_see_a_complete_version(tmp_path):
    path = make_index().save(tmp_path / "idx")
    versions = [make_index(10 + k, seed=k) for k in range(12)]
    allowed = {state(v) for v in versions} | {state(make_index())}
    done, seen, errors = threading.Event(), [], []

    def read():
        while not done.is_set():
            try:
                seen.append(state(Index.load(path)))
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for version in versions:
            version.save(path)
    finally:
        done.set()
        reader.join()
    assert not errors, errors[:3]
    assert seen and set(seen) <= allowed


def test_a_stale_index_is_refused_and_a_rebuild_replaces(tmp_path):
    path = make_index().save(tmp_path / "idx")
    first, second = Index.load(path), Index.load(path)
    first.remove(["d0"])
    first.save(path)
    second.remove(["d1"])
    with pytest.raises(IndexConflictError, match=r"another writer saved it \(save 2\) after this index was loaded"):
        second.save(path)
    assert "d0" not in Index.load(path).docs and "d1" in Index.load(path).docs
    first.save(path)  # its own last save is still the current one
    make_index(5).save(path)  # an index not loaded from this folder replaces it: a rebuild
    assert len(Index.load(path)) == 5


def test_a_file_deleted_while_being_checked_is_read_from_the_new_version(tmp_path, monkeypatch):
    import indexes.directory as directory

    path = make_index().save(tmp_path / "idx")
    newer = make_index(12, seed=5)
    real, raced = directory.file_sha256, []

    def checksum_racing_a_writer(file):
        if not raced:  # the writer commits a new version, and removes the old files, mid-check
            raced.append(file)
            newer.save(path)
        return real(file)

    monkeypatch.setattr(directory, "file_sha256", checksum_racing_a_writer)
    assert state(Index.load(path)) == state(newer) and raced
