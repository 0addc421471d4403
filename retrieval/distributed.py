"""Encode a corpus on a Ray cluster and build a sharded index from the embeddings.

`encode_corpus` runs a Ray Data pipeline: the corpus is cut into blocks (`retrieval.blocks`), and
`map_batches` sends each block to an actor pool of `Encoder`s (one per GPU, or per group of CPUs,
as declared), which reads the block, embeds it and writes its embedding block. A rerun skips the
blocks already written; a worker that dies costs only the block it held, which Ray runs again on a
restarted actor (Ray Data restarts map actors and retries their calls by default). `build_sharded`
turns the embeddings into a sharded index (`indexes.shard_build`), one Ray task per shard, with one
quantizer trained on a sample and shared by all shards.

Ray is imported inside the functions (``pip install "twostage[distributed]"``). Without Ray,
`build_sharded(..., ray=None)` encodes and builds in this process.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from indexes import CorpusError, read_corpus
from indexes.shard_build import (
    TRAIN_SAMPLE,
    BuildPlan,
    build_shard,
    commit_build,
    plan_build,
    shard_bounds,
    train_shared,
    write_sharded,
)
from indexes.shard_manifest import ShardEntry, ShardsManifest
from retrieval.blocks import PLAN_FILE, Block, BlockPlan, EmbeddingBlocks, plan_blocks, read_block, write_block
from retrieval.encoder import Encoder
from retrieval.types import TextEncoder

__all__ = ["LOG_FILE", "EncodeBlocks", "build_sharded", "encode_corpus", "read_log", "resume_plan"]

# One JSON line per block encoded (block, rows, seconds, pid), appended by every run.
LOG_FILE = "encode_log.jsonl"


class EncodeBlocks:
    """The Ray Data actor: an `Encoder` that turns block descriptions into written embedding blocks.

    Args:
        model: the encoder's hub name or local path.
        out_dir: the embeddings folder.
        device: torch device (``"cuda"`` for an actor given a GPU).
        encoder_options: `Encoder.load` keywords (prompts, batch_size, revision).
    """

    def __init__(self, model: str, out_dir: str, device: str = "cpu", **encoder_options: Any) -> None:
        self.encoder = Encoder.load(model, device=device, **encoder_options)
        self.out_dir = out_dir

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        done: dict[str, list[Any]] = {"block": [], "rows": [], "seconds": [], "pid": [], "error": []}
        for spec in batch["spec"]:
            block = Block(**json.loads(str(spec)))
            start = time.perf_counter()
            error = ""
            try:
                docs = read_block(block)
            except CorpusError as exc:  # a data error: reported, not retried (a rerun would fail the same way)
                docs, error = [], str(exc)
            if not error:
                write_block(self.out_dir, block.index, docs, self.encoder.encode_documents(docs, show_progress=False))
            for key, value in zip(done, (block.index, len(docs), time.perf_counter() - start, os.getpid(), error)):
                done[key].append(value)
        return {key: np.asarray(values) for key, values in done.items()}


def resume_plan(corpus: Any, out_dir: str | Path, block_rows: int) -> BlockPlan:
    """The plan saved in `out_dir` when it was made for this very corpus file, else a new one (saved).

    CorpusError when `out_dir` holds the plan of another file, or of this file before it changed.
    """
    out_dir = Path(out_dir)
    plan = plan_blocks(corpus, block_rows)
    saved = out_dir / PLAN_FILE
    if saved.exists():
        old = BlockPlan.from_json(saved.read_text(encoding="utf-8"))
        if (old.source, old.size, old.mtime_ns) != (plan.source, plan.size, plan.mtime_ns):
            raise CorpusError(
                f"{out_dir} holds embeddings of {old.source} as it was (size {old.size}); the corpus changed or is "
                "another one. Give a new embeddings folder, or delete this one to start over."
            )
        return old
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{PLAN_FILE}.tmp-{os.getpid()}"
    tmp.write_text(plan.to_json(), encoding="utf-8")
    os.replace(tmp, saved)
    return plan


def encode_corpus(
    corpus: str | Path,
    model: str,
    out_dir: str | Path,
    workers: int = 1,
    num_cpus: float = 1,
    num_gpus: float = 0,
    block_rows: int = 10_000,
    address: str | None = None,
    show_progress: bool = False,
    **encoder_options: Any,
) -> EmbeddingBlocks:
    """Embed a corpus file on Ray, block by block, into `out_dir`; finished blocks are skipped.

    Args:
        corpus: a BEIR folder, a ``.jsonl`` or a ``.parquet`` file.
        model: the encoder's hub name or local path, loaded by every actor.
        out_dir: the embeddings folder (``plan.json`` and ``blocks/``).
        workers: encoder actors in the pool.
        num_cpus, num_gpus: resources each actor declares; with a GPU it encodes on ``cuda``.
        block_rows: documents per block (the unit of work and of loss when a worker dies).
        address: the Ray cluster to connect to when this process is not connected yet.
        show_progress: Ray Data's progress bars.
        encoder_options: `Encoder.load` keywords (``query_prompt``, ``document_prompt``,
            ``batch_size``, ``revision``, ``precision``, ``backend``).

    Example:
        >>> blocks = encode_corpus("scifact/", "all-MiniLM-L6-v2", "emb/scifact", workers=2)  # doctest: +SKIP
    """
    from indexes.shard_actors import connect

    out_dir = Path(out_dir).absolute()
    resume_plan(corpus, out_dir, block_rows)
    blocks = EmbeddingBlocks(out_dir)
    todo = blocks.missing()
    if not todo:
        return blocks
    ray = connect(address)
    import ray.data

    dataset = ray.data.from_items([{"spec": json.dumps(asdict(b))} for b in todo], override_num_blocks=len(todo))
    encoded = dataset.map_batches(
        EncodeBlocks,
        fn_constructor_kwargs={
            "model": str(model), "out_dir": str(out_dir), "device": "cuda" if num_gpus else "cpu", **encoder_options,
        },
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=num_cpus,
        num_gpus=num_gpus,
    )
    context = ray.data.DataContext.get_current()
    progress_bars = context.enable_progress_bars
    context.enable_progress_bars = show_progress
    try:
        log = [{key: np.asarray(value).item() for key, value in row.items()} for row in encoded.take_all()]
    finally:
        context.enable_progress_bars = progress_bars
    with open(out_dir / LOG_FILE, "a", encoding="utf-8") as handle:
        for row in log:
            if not row["error"]:
                handle.write(json.dumps({k: v for k, v in row.items() if k != "error"}) + "\n")
    bad = sorted((row["block"], row["error"]) for row in log if row["error"])
    if bad:
        listed = "\n".join(f"block {block}: {error}" for block, error in bad[:10])
        raise CorpusError(
            f"{len(bad)} block(s) hold records that cannot be indexed; the other blocks are written. Fix the "
            f"corpus and encode into a new folder (the blocks are cut from the file as it is):\n{listed}"
        )
    still = blocks.missing()
    if still:
        raise RuntimeError(f"{len(still)} block(s) were not written: {[b.index for b in still][:10]}; run again")
    return blocks


def read_log(out_dir: str | Path) -> list[dict[str, Any]]:
    """The blocks encoded into `out_dir`, one record per block and run, oldest first."""
    path = Path(out_dir) / LOG_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _check_unique(blocks: EmbeddingBlocks) -> int:
    seen: set[str] = set()
    for block in blocks.plan.blocks:
        ids = blocks.doc_ids(block.index)
        repeated = seen.intersection(ids)
        if repeated or len(set(ids)) != len(ids):
            raise CorpusError(
                f"duplicate document ids across the corpus, e.g. {sorted(repeated)[:5]}; ids must be unique"
            )
        seen.update(ids)
    return len(seen)


def _shard_slices(blocks: EmbeddingBlocks, shards: int) -> list[list[tuple[int, int, int]]]:
    """Per shard, the (block, start, stop) row slices of its contiguous range of the corpus."""
    counts = [blocks.rows(b.index) for b in blocks.plan.blocks]
    offsets = np.concatenate([[0], np.cumsum(counts)])
    out = []
    for a, b in shard_bounds(int(offsets[-1]), shards):
        part = []
        for block, (lo, hi) in enumerate(zip(offsets[:-1], offsets[1:])):
            start, stop = max(a, lo), min(b, hi)
            if start < stop:
                part.append((blocks.plan.blocks[block].index, int(start - lo), int(stop - lo)))
        out.append(part)
    return out


def _build_from_blocks(plan: BuildPlan, i: int, path: str, slices: Sequence[tuple[int, int, int]]) -> ShardEntry:
    blocks = EmbeddingBlocks(path)
    docs, vectors = [], []
    for block, start, stop in slices:
        docs.extend(blocks.block_documents(block)[start:stop])
        vectors.append(blocks.block_vectors(block)[start:stop])
    stacked = np.concatenate(vectors) if vectors else np.zeros((0, plan.dim), dtype=np.float32)
    return build_shard(plan, i, docs, stacked)


def _sample(blocks: EmbeddingBlocks, size: int, seed: int) -> np.ndarray:
    counts = np.array([blocks.rows(b.index) for b in blocks.plan.blocks])
    rows = np.sort(np.random.default_rng(seed).choice(counts.sum(), size=min(size, counts.sum()), replace=False))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    parts = []
    for block, (lo, hi) in zip(blocks.plan.blocks, zip(offsets[:-1], offsets[1:])):
        wanted = rows[(rows >= lo) & (rows < hi)] - lo
        if len(wanted):
            parts.append(blocks.block_vectors(block.index, mmap=True)[wanted])
    return np.concatenate(parts)


def build_sharded(
    corpus: Any,
    encoder: TextEncoder,
    out: str | Path,
    shards: int,
    factory: str = "Flat",
    metric: str | None = None,
    ray: bool | str | None = None,
    embeddings: str | Path | None = None,
    workers: int = 1,
    num_cpus: float = 1,
    num_gpus: float = 0,
    block_rows: int = 10_000,
    train_size: int = TRAIN_SAMPLE,
    seed: int = 0,
    show_progress: bool = True,
) -> ShardsManifest:
    """Embed a corpus and write it as a sharded index directory.

    Args:
        corpus: without Ray, anything `indexes.read_corpus` reads; with Ray, a BEIR folder or a
            ``.jsonl``/``.parquet`` file.
        encoder: the stage-1 encoder (its manifest record is written into ``shards.json``). With
            Ray the actors load the model by `encoder.name`, with the same prompts and batch size.
        out: the sharded index directory.
        shards: how many shards; shard i holds the i-th contiguous slice of the corpus.
        factory, metric: as in `build_index` (metric defaults to the encoder's).
        ray: None/False: this process. True: the Ray cluster this process is connected to (or a
            local one). A string: the address of a Ray cluster.
        embeddings: the embeddings folder (default ``<out>.embeddings``); kept, so a rerun after a
            crash resumes, and another factory can be built without encoding again.
        workers, num_cpus, num_gpus, block_rows: the encoding pool, as in `encode_corpus`.
        train_size, seed: the sample the shared quantizer is trained on (IVF, PQ).

    Example:
        >>> build_sharded("scifact/", Encoder.load("all-MiniLM-L6-v2"), "idx/scifact-4", shards=4)  # doctest: +SKIP
    """
    metric = metric or encoder.metric
    if not ray:
        docs = read_corpus(corpus)
        vectors = encoder.encode_documents(docs, show_progress=show_progress)
        return write_sharded(out, docs, vectors, shards, factory, metric, encoder=encoder.info(),
                             train_size=train_size, seed=seed)
    from indexes.shard_actors import connect

    ray_module = connect(ray if isinstance(ray, str) else None)
    folder = Path(embeddings) if embeddings is not None else Path(f"{Path(out).absolute()}.embeddings")
    blocks = encode_corpus(
        corpus, encoder.name, folder, workers=workers, num_cpus=num_cpus, num_gpus=num_gpus, block_rows=block_rows,
        query_prompt=encoder.query_prompt, document_prompt=encoder.document_prompt,
        batch_size=getattr(encoder, "batch_size", 64), revision=encoder.revision, show_progress=show_progress,
        **({"precision": encoder.precision} if getattr(encoder, "precision", "fp32") != "fp32" else {}),
        **({"backend": encoder.backend} if getattr(encoder, "backend", "auto") != "auto" else {}),
    )
    _check_unique(blocks)
    plan = plan_build(out, shards, encoder.dim, factory, metric, encoder=encoder.info())
    plan = train_shared(plan, _sample(blocks, train_size, seed), seed)
    task = ray_module.remote(_build_from_blocks)
    refs = [task.remote(plan, i, str(blocks.path), s) for i, s in enumerate(_shard_slices(blocks, shards))]
    return commit_build(plan, ray_module.get(refs))
