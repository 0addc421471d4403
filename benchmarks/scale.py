"""`python -m benchmarks.scale`: encode throughput against Ray workers, search QPS against shards, Ray's cost.

One run measures, on this machine:

- encoding: one process (`Encoder.encode_documents`, all torch threads) against the Ray Data
  pipeline (`retrieval.distributed.encode_corpus`) with 1..W actors of one CPU each, as wall
  throughput (actor start-up included) and steady per-actor throughput (from the block log);
- search: one `Index` against `ShardedIndex` with 1..S Flat shards, in this process and on Ray
  actors, as batch QPS (a batch of queries per call) and single-query latency;
- Ray's overhead: each Ray figure beside the in-process figure of the same work;
- memory: bytes per vector of Flat, fp16, SQ8 and IVF-PQ (64 bytes a vector) as saved, and bytes per
  document of the document store, in memory and on disk (the inputs of the 100M sizing in docs/scale.md).

The encoder is a MiniLM-L6-shaped BERT (6 layers, 384 wide) with random weights, built from the
shared tokenizer unless ``--model`` names another: encoding cost depends on the shape, not on the
weights. The documents are the first ``--docs`` passages of the shared MS MARCO sample (about 80
tokens each, the passages a 100M-passage corpus is made of) unless ``--corpus`` names another.
Results go to ``--out`` as ``scale.json`` and ``scale.txt`` (the table printed).

Example:
    python -m benchmarks.scale --docs 400 --workers 1,2 --vectors 100000 --shards 1,2,4
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["encode_sweep", "main", "memory_sweep", "search_sweep", "table"]

MEMORY_FACTORIES = ("Flat", "SQfp16", "SQ8", "IVF{lists},PQ64np")  # np: no polysemous training (slow, same size)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=None, help="corpus.jsonl or BEIR folder (default: shared MS MARCO mini)")
    parser.add_argument("--model", default=None, help="encoder path (default: random MiniLM-L6 shape)")
    parser.add_argument("--docs", type=int, default=400, help="documents encoded per configuration")
    parser.add_argument("--workers", default="1,2", help="Ray encoder actor counts to measure")
    parser.add_argument("--block-rows", type=int, default=25, help="documents per Ray block")
    parser.add_argument("--vectors", type=int, default=100_000, help="vectors in the search index")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--shards", default="1,2,4", help="shard counts to measure")
    parser.add_argument("--batch", type=int, default=256, help="queries per batch call")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--singles", type=int, default=50, help="single-query calls timed")
    parser.add_argument("--memory-rows", type=int, default=20_000, help="vectors and documents sized")
    parser.add_argument("--ray-cpus", type=int, default=2, help="CPUs of the local Ray cluster")
    parser.add_argument("--address", default=None, help="an existing Ray cluster instead of a local one")
    parser.add_argument("--out", default="results/scale", help="folder for scale.json and scale.txt")
    return parser


def _source(corpus: str | None) -> Path:
    """The corpus file measured: the one given, else the shared MS MARCO sample."""
    from benchmarks.paths import shared_dir
    from retrieval.blocks import corpus_file

    return corpus_file(corpus or shared_dir() / "datasets" / "msmarco-dl19-mini")


def _corpus_slice(path: Path, docs: int, folder: Path) -> Path:
    out = folder / "corpus.jsonl"
    with open(path, encoding="utf-8") as src, open(out, "w", encoding="utf-8") as dst:
        for _, line in zip(range(docs), (line for line in src if line.strip())):
            dst.write(line)
    return out


def _model(model: str | None, folder: Path) -> str:
    if model:
        return model
    from benchmarks.paths import shared_dir
    from retrieval.train.scratch import MINILM_L6_SHAPE, random_bert_encoder

    return str(random_bert_encoder(shared_dir() / "tokenizers" / "bert-uncased-wordpiece", folder / "minilm-shape",
                                   shape=MINILM_L6_SHAPE, max_length=256))


def encode_sweep(corpus: Path, model: str, workers: Sequence[int], block_rows: int, folder: Path) -> list[dict]:
    """One process, then the Ray pipeline with each actor count, on the same documents."""
    from benchmarks.perf.measure import load_summary
    from indexes import read_corpus
    from retrieval.distributed import encode_corpus, read_log
    from retrieval.encoder import Encoder

    docs = read_corpus(corpus)
    encoder = Encoder.load(model, device="cpu")
    encoder.encode_documents(docs[:16], show_progress=False)  # warm-up
    start = time.perf_counter()
    encoder.encode_documents(docs, show_progress=False)
    wall = time.perf_counter() - start
    rows = [{"mode": "one process", "workers": 1, "docs": len(docs), "wall_s": wall, "wall_docs_s": len(docs) / wall,
             "steady_docs_s": len(docs) / wall, "per_worker_docs_s": len(docs) / wall, **load_summary()}]
    for count in workers:
        out = folder / f"emb-{count}"
        start = time.perf_counter()
        encode_corpus(corpus, model, out, workers=count, num_cpus=1, block_rows=block_rows)
        wall = time.perf_counter() - start
        log = read_log(out)
        per_pid: dict[int, list[float]] = {}
        for record in log:
            per_pid.setdefault(record["pid"], [0, 0.0])
            per_pid[record["pid"]][0] += record["rows"]
            per_pid[record["pid"]][1] += record["seconds"]
        per_worker = [n / s for n, s in per_pid.values() if s > 0]
        busy = max(s for _, s in per_pid.values())
        rows.append({"mode": "Ray Data", "workers": count, "docs": len(docs), "wall_s": wall,
                     "wall_docs_s": len(docs) / wall, "steady_docs_s": float(sum(per_worker)),
                     "per_worker_docs_s": float(np.mean(per_worker)), "startup_s": wall - busy, **load_summary()})
    return rows


def _qps(index: Any, queries: np.ndarray, batch: int, k: int, singles: int) -> dict[str, float]:
    from benchmarks.perf.measure import ms_summary

    index.search(queries[:batch], k)  # warm-up
    start = time.perf_counter()
    done = 0
    for i in range(0, len(queries), batch):
        done += len(index.search(queries[i : i + batch], k))
    batch_qps = done / (time.perf_counter() - start)
    times = []
    for q in queries[:singles]:
        start = time.perf_counter()
        index.search(q[None, :], k)
        times.append(time.perf_counter() - start)
    return {"batch_qps": batch_qps, **{f"single_{key}": v for key, v in ms_summary(times).items()}}


def search_sweep(n: int, dim: int, shards: Sequence[int], batch: int, k: int, singles: int, folder: Path) -> list[dict]:
    """One Index, then 1..S Flat shards in this process and on Ray actors, on the same vectors and queries."""
    from benchmarks.perf.measure import load_summary
    from indexes import Document, Index
    from indexes.shard_build import write_sharded
    from indexes.sharded import ShardedIndex

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    queries = rng.standard_normal((batch * 4, dim), dtype=np.float32)
    docs = [Document(f"d{i}", f"passage {i}") for i in range(n)]
    single = Index.create(dim, "Flat", "cosine")
    single.add(docs, vectors)
    rows = [{"mode": "one Index", "shards": 1, **_qps(single, queries, batch, k, singles), **load_summary()}]
    for count in shards:
        path = folder / f"s{count}"
        write_sharded(path, docs, vectors, count, "Flat", "cosine")
        for mode, ray in (("in-process shards", None), ("Ray shard actors", True)):
            with ShardedIndex.load(path, ray=ray) as index:
                measured = _qps(index, queries, batch, k, singles)
                rows.append({"mode": mode, "shards": count, **measured, **load_summary()})
    return rows


def memory_sweep(corpus: Path, n: int, dim: int, folder: Path) -> list[dict]:
    """Bytes per vector of each FAISS type as saved, and per document of the store (memory and disk).

    The store holds up to `n` documents of `corpus`, each once (repeated texts would compress).
    """
    import gc
    import tracemalloc

    import pyarrow as pa

    from benchmarks.perf.measure import FaissThreads
    from indexes import DocStore, Document, VectorIndex

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = []
    lists = max(1, min(1024, n // 39))  # FAISS wants at least 39 training points a list
    for factory in (f.format(lists=lists) for f in MEMORY_FACTORIES):
        with FaissThreads(1):  # sizes do not depend on threads; k-means on 2 busy cores spins badly
            index = VectorIndex(dim, factory, "cosine", use_gpu=False)
            index.train(vectors[: min(n, 50_000)])
            index.add(vectors, np.arange(n))
        index.write(folder / "sized.faiss")
        rows.append({"what": factory, "file_bytes": (folder / "sized.faiss").stat().st_size / n})
    with open(corpus, encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for _, line in zip(range(n), (x for x in handle if x.strip()))]
    docs = [Document(str(i), text) for i, text in enumerate(texts)]
    DocStore().add(docs[:2], np.arange(2))  # lazy imports and caches, outside the measurement
    gc.collect()
    arrow_before = pa.total_allocated_bytes()
    tracemalloc.start()
    store = DocStore()
    store.add(docs, np.arange(len(docs)))
    python_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    grown = python_bytes + pa.total_allocated_bytes() - arrow_before  # Python objects + Arrow buffers
    store.save(folder / "sized.parquet")
    size = (folder / "sized.parquet").stat().st_size
    rows.append({"what": f"DocStore ({len(docs):,})", "file_bytes": size / len(docs), "memory_bytes": grown / len(docs),
                 "mean_chars": float(np.mean([len(t) for t in texts]))})
    return rows


def table(result: dict[str, Any]) -> str:
    """The text table of a run's encode and search rows."""
    lines = ["encode (docs/s; Ray wall includes actor start-up)",
             f"{'mode':<13} {'workers':>7} {'docs':>5} {'wall s':>7} {'wall/s':>7} {'steady/s':>8} "
             f"{'per worker/s':>12} {'start-up s':>10} {'load1':>5}"]
    for r in result["encode"]:
        startup = f"{r['startup_s']:.1f}" if "startup_s" in r else "-"
        lines.append(f"{r['mode']:<13} {r['workers']:>7} {r['docs']:>5} {r['wall_s']:>7.1f} {r['wall_docs_s']:>7.1f} "
                     f"{r['steady_docs_s']:>8.1f} {r['per_worker_docs_s']:>12.1f} {startup:>10} {r['load1']:>5}")
    s = result["settings"]
    lines += ["", f"search ({s['vectors']:,} x {s['dim']} Flat, k={s['k']}, batches of {s['batch']})",
              f"{'mode':<18} {'shards':>6} {'batch QPS':>9} {'1-query p50 ms':>14} {'p95 ms':>7} {'load1':>5}"]
    for r in result["search"]:
        lines.append(f"{r['mode']:<18} {r['shards']:>6} {r['batch_qps']:>9.0f} {r['single_p50_ms']:>14.2f} "
                     f"{r['single_p95_ms']:>7.2f} {r['load1']:>5}")
    lines += ["", f"memory ({s['memory_rows']:,} rows; bytes per vector or document)",
              f"{'what':<16} {'file B':>8} {'memory B':>9}"]
    for r in result["memory"]:
        memory = f"{r['memory_bytes']:.0f}" if "memory_bytes" in r else "-"
        lines.append(f"{r['what']:<16} {r['file_bytes']:>8.1f} {memory:>9}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import ray

    from benchmarks.environment import environment

    workers = [int(x) for x in args.workers.split(",") if x]
    shards = [int(x) for x in args.shards.split(",") if x]
    started = not ray.is_initialized()
    if started:
        options = {} if args.address else {"num_cpus": args.ray_cpus, "include_dashboard": False}
        ray.init(address=args.address, log_to_driver=False, **options)
    try:
        with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
            folder = Path(tmp)
            corpus = _corpus_slice(_source(args.corpus), args.docs, folder)
            model = _model(args.model, folder)
            result: dict[str, Any] = {
                "settings": {k: v for k, v in vars(args).items()},
                "environment": environment(measure_peak=False),
                "ray_cluster": {k: float(v) for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")},
                "encode": encode_sweep(corpus, model, workers, args.block_rows, folder),
                "search": search_sweep(args.vectors, args.dim, shards, args.batch, args.k, args.singles, folder),
                "memory": memory_sweep(_source(args.corpus), args.memory_rows, args.dim, folder),
            }
    finally:
        if started:
            ray.shutdown()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.json").write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    text = table(result)
    (out / "scale.txt").write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"\nwritten to {out / 'scale.json'} and {out / 'scale.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
