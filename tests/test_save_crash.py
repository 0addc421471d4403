"""A writer killed mid-save leaves the previous index loadable and unchanged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from indexes import Document, Index

WRITER = """
import sys, numpy as np
from indexes import Document, Index
index = Index.load(sys.argv[1])
n = 300_000
rng = np.random.default_rng(1)
index.add([Document(f"new{i}", "x") for i in range(n)], rng.standard_normal((n, 64)).astype("float32"))
print("saving", flush=True)
index.save(sys.argv[1])
print("saved", flush=True)
"""


def test_killed_writer_leaves_previous_index_intact(tmp_path):
    path = tmp_path / "idx"
    index = Index.create(64, "Flat", "ip")
    rng = np.random.default_rng(0)
    index.add([Document(f"d{i}", f"text {i}") for i in range(100)], rng.standard_normal((100, 64)))
    index.save(path)
    query = rng.standard_normal((1, 64)).astype("float32")
    before = [(d.doc_id, s) for d, s in Index.load(path).search(query, 5)[0]]

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "saving"
    deadline = time.time() + 60
    while not (path / "vectors.000002.faiss").exists() and time.time() < deadline:
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the writer finished before it could be killed"

    reloaded = Index.load(path)
    assert len(reloaded) == 100
    assert [(d.doc_id, s) for d, s in reloaded.search(query, 5)[0]] == before
    assert not (path / "vectors.000002.faiss").exists(), "the load did not delete the interrupted save's file"
