"""Helpers of the sharding tests: a small real Ray cluster, process kills, and ranking agreement.

The cluster (two CPUs, no dashboard, shut down at the end) serves the tests marked `ray`. Test
modules import the fixture (`from tests.shard_support import ray_cluster`); it is started once per
session, whichever module asks first.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

# Scores of one vector pair may differ by float32 rounding between two FAISS searches (another
# BLAS blocking or thread count); the bound for equal results.
TOLERANCE = 1e-5


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[object]:
    ray = pytest.importorskip("ray", reason='Ray is not installed (pip install -e ".[distributed]")')
    if ray.is_initialized():  # started by the same fixture imported into another module
        yield ray
        return
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def kill(pid: int) -> None:
    """SIGKILL one process, as the kernel's OOM killer or a lost node would."""
    os.kill(pid, signal.SIGKILL)


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def agreement(expected, found, tol=TOLERANCE):
    """Compare two rankings per query: (queries with identical id lists, max rank-wise score difference, ok).

    `ok` holds when every document in both lists has the same score within `tol`, and a document in
    only one list scores within `tol` of the other list's last score: any difference in ids or order
    is then a near tie reordered by float rounding, not a different result.
    """
    identical, worst, ok = 0, 0.0, True
    for a, b in zip(expected, found):
        ids_a, ids_b = [d.doc_id for d, _ in a], [d.doc_id for d, _ in b]
        if len(ids_a) != len(ids_b):
            return identical, float("inf"), False
        if not ids_a:
            identical += 1
            continue
        scores_a, scores_b = np.array([s for _, s in a]), np.array([s for _, s in b])
        worst = max(worst, float(np.abs(scores_a - scores_b).max()))
        identical += ids_a == ids_b
        by_a, by_b = dict(zip(ids_a, scores_a)), dict(zip(ids_b, scores_b))
        ok &= all(abs(by_a[d] - by_b[d]) <= tol for d in by_a.keys() & by_b.keys())
        ok &= all(by_a[d] <= scores_b[-1] + tol for d in by_a.keys() - by_b.keys())
        ok &= all(by_b[d] <= scores_a[-1] + tol for d in by_b.keys() - by_a.keys())
    return identical, worst, bool(ok)
