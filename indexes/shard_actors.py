"""Shards served by Ray actors: one or more actors (replicas) per shard, restarted by Ray when they die.

Ray is imported inside the functions that need it, so `import indexes` works without it
(``pip install "twostage[distributed]"`` installs it).

Faults: an actor whose process dies is restarted by Ray up to `max_restarts` times (it reloads its
shard from disk) and the call it was serving is retried up to `max_task_retries` times. When a
shard has several replicas, a call that fails on one is sent to the next. When no replica of a
shard can answer, the query raises `ShardUnavailableError` (`ShardTimeoutError` past
`timeout_s`): it never returns the other shards' hits as if they were all.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexes.documents import Document
from indexes.errors import IndexFormatError
from indexes.shard_manifest import SHARDS_FILE, ShardsManifest
from indexes.sharded import ShardTimeoutError, ShardUnavailableError, load_shard, search_rows

__all__ = ["RayShards", "ShardServer", "connect"]


def connect(address: str | None = None, **init_options: Any) -> Any:
    """The `ray` module, connected: to the running cluster if there is one, else `ray.init(address, ...)`."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError('Ray is not installed; pip install "twostage[distributed]" (ray[data])') from exc
    if not ray.is_initialized():
        ray.init(address=address, **init_options)
    return ray


class ShardServer:
    """The body of a shard actor: one shard loaded from its directory.

    A load error is kept and raised by every call, so that the caller sees the storage error
    (`IndexFormatError`, ...) rather than a dead actor.
    """

    def __init__(self, path: str, files: dict[str, Any], verify: bool, use_gpu: bool | None,
                 search_params: str | None) -> None:
        self.error: Exception | None = None
        try:
            self.index = load_shard(path, files, verify, use_gpu, search_params)
        except Exception as exc:  # noqa: BLE001 - re-raised by every call
            self.error = exc

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def doc_count(self) -> int:
        self._check()
        return len(self.index)

    def search_rows(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        self._check()
        return search_rows(self.index, queries, k)

    def fetch(self, rows: np.ndarray) -> list[Document]:
        self._check()
        return self.index.docs.get_rows(rows)

    def pid(self) -> int:
        return os.getpid()


class RayShards:
    """One Ray actor per shard and replica, with the `indexes.sharded.ShardBackend` interface.

    Args:
        path: the sharded index directory (on a filesystem every node can read).
        layout: its ``shards.json`` manifest.
        address: the Ray cluster to connect to when this process is not connected yet.
        replicas: actors per shard; calls rotate over them and fail over to the next.
        num_cpus, num_gpus: resources each actor reserves (None: Ray's actor default, which
            needs one CPU to place the actor and holds none while it runs).
        max_restarts: times Ray restarts a dead actor (-1: without limit).
        max_task_retries: times a call is retried on a restarted actor.
        timeout_s: seconds a query waits for all shards before `ShardTimeoutError`.
        use_gpu, verify, search_params: as in `ShardedIndex.load`.
        init_options: passed to `ray.init` when a cluster is started here.
    """

    def __init__(
        self,
        path: str | Path,
        layout: ShardsManifest,
        address: str | None = None,
        replicas: int = 1,
        num_cpus: float | None = None,
        num_gpus: float | None = None,
        max_restarts: int = 3,
        max_task_retries: int = 3,
        timeout_s: float | None = None,
        use_gpu: bool | None = None,
        verify: bool = True,
        search_params: str | None = None,
        init_options: dict[str, Any] | None = None,
    ) -> None:
        if replicas <= 0:
            raise ValueError(f"replicas must be positive, got {replicas}")
        self._ray = ray = connect(address, **(init_options or {}))
        options: dict[str, Any] = {"max_restarts": max_restarts, "max_task_retries": max_task_retries}
        if num_cpus is not None:
            options["num_cpus"] = num_cpus
        if num_gpus is not None:
            options["num_gpus"] = num_gpus
        server = ray.remote(ShardServer).options(**options)
        self.names = [entry.name for entry in layout.shards]
        self.actors = [
            [server.remote(str(Path(path) / e.name), e.files, verify, use_gpu, search_params) for _ in range(replicas)]
            for e in layout.shards
        ]
        self.timeout_s = timeout_s
        self._turn = 0
        counts = self._call(lambda actor: actor.doc_count.remote(), [()] * len(self.names), "load")
        for name, count, entry in zip(self.names, counts, layout.shards):
            if count != entry.doc_count:
                raise IndexFormatError(f"{Path(path) / name}: {count} documents, {SHARDS_FILE} says {entry.doc_count}")

    def _call(self, submit: Callable[..., Any], args: Sequence[tuple], what: str) -> list[Any]:
        """`submit(actor, *args[i])` on a replica of every shard i; results in shard order, or a typed error."""
        ray = self._ray
        from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError, WorkerCrashedError

        lost = (RayActorError, WorkerCrashedError, ray.exceptions.ObjectLostError)
        deadline = None if self.timeout_s is None else time.monotonic() + self.timeout_s
        self._turn += 1
        replicas = len(self.actors[0])
        pending = {i: submit(self.actors[i][self._turn % replicas], *a) for i, a in enumerate(args)}
        out: list[Any] = [None] * len(args)
        for i in range(len(args)):
            for attempt in range(1, replicas + 1):
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    out[i] = ray.get(pending[i], timeout=remaining)
                    break
                except GetTimeoutError as exc:
                    raise ShardTimeoutError(
                        f"shard {i} ({self.names[i]}) did not answer {what} within {self.timeout_s} s"
                    ) from exc
                except RayTaskError as exc:
                    raise exc.as_instanceof_cause() from None
                except lost as exc:
                    if attempt == replicas:
                        raise ShardUnavailableError(
                            f"shard {i} ({self.names[i]}) is unavailable for {what}: {type(exc).__name__}; "
                            f"{replicas} replica(s) tried. The query fails rather than return the other shards' "
                            "hits alone; raise max_restarts/max_task_retries or add replicas to ride out dead workers."
                        ) from exc
                    pending[i] = submit(self.actors[i][(self._turn + attempt) % replicas], *args[i])
        return out

    def search_rows(self, queries: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
        ref = self._ray.put(np.ascontiguousarray(queries, dtype=np.float32))
        return self._call(lambda actor: actor.search_rows.remote(ref, k), [()] * len(self.names), "a search")

    def fetch(self, rows: Sequence[np.ndarray]) -> list[list[Document]]:
        return self._call(lambda actor, r: actor.fetch.remote(r) if len(r) else _empty(self._ray),
                          [(r,) for r in rows], "a document fetch")

    def pids(self) -> list[list[int]]:
        """The process id of every actor, per shard (for operations and the kill tests)."""
        return [self._ray.get([actor.pid.remote() for actor in replicas]) for replicas in self.actors]

    def close(self) -> None:
        for replicas in self.actors:
            for actor in replicas:
                self._ray.kill(actor)
        self.actors = []


def _empty(ray: Any) -> Any:
    return ray.put([])
