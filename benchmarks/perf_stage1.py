"""Stage-1 speed: build overhead, single-query latency, bulk-encoding GFLOP/s, FAISS flat vs IVF-PQ.

The encoder is a MiniLM-L6-H384-*shaped* BERT with random weights, built here from the shared
WordPiece tokenizer (speed does not depend on the weights; it is not a pretrained model). Every ratio
is taken within one run, because the machine may be shared; the latency section runs at the start
and again at the end, and each run records the load average.

Sections (``--sections``, comma-separated, default all):
    build    encoder docs/s vs build_index docs/s on the same SciFact documents (target >= 0.9).
    latency  single-query encode + Flat search p50/p95 over SciFact test queries (target p50 <= 10 ms),
             beside plain ``SentenceTransformer.encode([q])``, the encoder on all threads, and the
             FAISS search alone on its default threads and on one; wall and CPU time per call.
    threads  one forward pass at growing token counts on 1 thread vs all (chooses the small-batch rule).
    bulk     bulk-encoding GFLOP/s against a matmul peak measured in the same run (target >= 0.8).
    faiss    Flat search over 1M synthetic 384-d unit vectors, uniform ("random") and in 10,000 noisy
             clusters ("clustered"): ms/query single and batched; IVF-PQ (and IVF-PQ re-scored
             exactly, RFlat) recall@10 against exact and speed-up per nprobe; k above the corpus
             and above the FAISS GPU limit.

FLOPs of one forward pass (bulk section), per layer, h = hidden size, f = feed-forward size:
    dense  = 2 * real_tokens * (4*h*h + 2*h*f)          (Q, K, V, output projections; two FFN matrices)
    attn   = sum over sequences of 2 * 2 * L * L * h    (QK^T and AV, L = padded length as actually run)
Embedding lookups, layer norms, GELU, softmax and the pooler are not counted (cheap, or not matmuls).
``useful`` GFLOP/s counts attention over each sequence's real length instead (no padding at all).

Example:
    python -m benchmarks.perf_stage1 --sections build,latency --docs 1000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main"]

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TWOSTAGE_SHARED", REPO.parent / "shared"))
SECTIONS = ("build", "latency", "threads", "bulk", "faiss")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf_stage1", description=__doc__.split("\n")[0])
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, from {SECTIONS}")
    parser.add_argument("--dataset", type=Path, default=SHARED / "datasets" / "scifact")
    parser.add_argument("--tokenizer", type=Path, default=SHARED / "tokenizers" / "bert-uncased-wordpiece")
    parser.add_argument("--model", type=Path, help="a saved sentence-transformers model (default: build one)")
    parser.add_argument("--max-length", type=int, default=256, help="max tokens, as all-MiniLM-L6-v2 (256)")
    parser.add_argument("--docs", type=int, default=1000, help="SciFact documents for build and latency (0: all)")
    parser.add_argument("--bulk-docs", type=int, default=500, help="SciFact documents per bulk run (0: all)")
    parser.add_argument("--repeats", type=int, default=2, help="timed repeats for throughput (best kept)")
    parser.add_argument("--queries", type=int, default=0, help="SciFact test queries to time (0: all 300)")
    parser.add_argument("--budgets", default="1024,2048,4096,8192", help="token budgets swept in bulk")
    parser.add_argument("--peak-n", type=int, default=2048, help="size of the matmul that measures the peak")
    parser.add_argument("--bulk-threads", default="0,1", help="torch threads for bulk runs (0: torch default)")
    parser.add_argument(
        "--thread-tokens", default="8,16,32,64,128,256,512,1024,2048", help="token counts of the threads section"
    )
    parser.add_argument("--vectors", type=int, default=1_000_000, help="random vectors for the faiss section")
    parser.add_argument("--faiss-queries", type=int, default=1000, help="queries for batched search/recall")
    parser.add_argument("--data", default="random,clustered", help="synthetic sets: random, clustered")
    parser.add_argument(
        "--ivf",
        default="IVF1024,PQ48np;IVF1024,PQ48np,RFlat",
        help="approximate FAISS factory strings, ';'-separated ('np': no polysemous training, which is slow)",
    )
    parser.add_argument("--nprobe", default="1,4,16,64", help="IVF probes swept")
    parser.add_argument(
        "--faiss-threads", type=int, default=0, help="FAISS OpenMP threads for the faiss section (0: FAISS default)"
    )
    parser.add_argument("--k-factor", type=int, default=8, help="candidates x k re-scored exactly by RFlat")
    parser.add_argument("--train", type=int, default=65_536, help="IVF-PQ training sample")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "perf_stage1")
    return parser


# ---------------------------------------------------------------- helpers


def _load() -> dict[str, float]:
    one, five, _ = os.getloadavg()
    return {"load1": round(one, 2), "load5": round(five, 2)}


def _ms_summary(seconds: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1e3
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
        "min_ms": round(float(ms.min()), 3),
        "n": len(ms),
    }


def _best_time(fn: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _scifact(dataset: Path, docs: int, queries: int) -> tuple[list[dict[str, Any]], list[str]]:
    if not (dataset / "corpus.jsonl").exists():
        raise FileNotFoundError(f"{dataset}: no corpus.jsonl; pass --dataset with a BEIR SciFact folder")
    corpus = _read_jsonl(dataset / "corpus.jsonl")
    corpus = corpus[:docs] if docs > 0 else corpus
    with open(dataset / "qrels" / "test.tsv", encoding="utf-8") as handle:
        test_ids = {line.split("\t")[0] for line in list(handle)[1:] if line.strip()}
    texts = [q["text"] for q in _read_jsonl(dataset / "queries.jsonl") if q["_id"] in test_ids]
    return corpus, texts[:queries] if queries > 0 else texts


class _FlopCounter:
    """Counts real and padded tokens of every forward pass (a hook on the sentence-transformers module)."""

    def __init__(self, transformer: Any) -> None:
        config = transformer.auto_model.config
        self.layers, self.hidden = config.num_hidden_layers, config.hidden_size
        self.ffn = config.intermediate_size
        self.dense = self.attn_padded = self.attn_real = 0.0
        # The module, not the Hugging Face model: sentence-transformers calls `model.forward` directly.
        self._handle = transformer.register_forward_pre_hook(self._count)

    def _count(self, module: Any, args: Any) -> None:
        mask = args[0]["attention_mask"]
        batch, seq = mask.shape
        real = mask.sum(dim=1).cpu().numpy().astype(np.float64)
        h, f, n = self.hidden, self.ffn, self.layers
        self.dense += n * 2 * real.sum() * (4 * h * h + 2 * h * f)
        self.attn_padded += n * batch * 4 * seq * seq * h
        self.attn_real += n * float((4 * real * real * h).sum())

    def reset(self) -> None:
        self.dense = self.attn_padded = self.attn_real = 0.0

    def close(self) -> None:
        self._handle.remove()


def _build_model(args: argparse.Namespace, workdir: Path) -> Path:
    if args.model:
        return args.model
    from retrieval.scratch import MINILM_L6_SHAPE, random_bert_encoder

    print("building a MiniLM-L6-H384-shaped BERT with random weights ...", file=sys.stderr)
    return random_bert_encoder(args.tokenizer, workdir / "minilm-l6-shape-random", MINILM_L6_SHAPE, args.max_length)


# ---------------------------------------------------------------- sections


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    start, start_cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - start, time.process_time() - start_cpu


def section_build(encoder: Any, corpus: list[dict[str, Any]], repeats: int) -> dict[str, Any]:
    """Encoder docs/s and build_index docs/s on the same documents, runs interleaved, best of each."""
    from indexes import read_corpus
    from retrieval.indexing import build_index

    docs = read_corpus(corpus)
    encoder.encode_documents(docs[:32], show_progress=False)  # warm-up
    encode, build = [], []
    for _ in range(max(1, repeats)):
        encode.append(_timed(lambda: encoder.encode_documents(docs, show_progress=False)))
        build.append(_timed(lambda: build_index(corpus, encoder, "Flat", use_gpu=False, show_progress=False)))
    n = len(docs)
    encoder_dps, build_dps = n / min(w for w, _ in encode), n / min(w for w, _ in build)
    cpu_ratio = min(c for _, c in encode) / min(c for _, c in build)
    return {
        "docs": n,
        "encoder_docs_per_s": round(encoder_dps, 2),
        "build_index_docs_per_s": round(build_dps, 2),
        "ratio": round(build_dps / encoder_dps, 3),
        "cpu_ratio": round(cpu_ratio, 3),
        "target_ratio": 0.9,
        "encode_wall_cpu_s": [[round(w, 3), round(c, 3)] for w, c in encode],
        "build_wall_cpu_s": [[round(w, 3), round(c, 3)] for w, c in build],
        **_load(),
    }


class _FaissThreads:
    """FAISS's OpenMP thread count for the calling thread (libgomp keeps it per thread), restored after."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self) -> None:
        import faiss

        self.previous = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(self.n)

    def __exit__(self, *exc: Any) -> None:
        import faiss

        faiss.omp_set_num_threads(self.previous)


def _faiss_default_threads() -> int:
    import faiss

    return faiss.omp_get_max_threads()


def _search_1_thread(index: Any, vectors: np.ndarray) -> Any:
    with _FaissThreads(1):
        return index.search(vectors, 10)


def _faiss_1_thread(call: Callable[[str], Any]) -> Callable[[str], Any]:
    def run(q: str) -> Any:
        with _FaissThreads(1):
            return call(q)

    return run


def section_latency(encoder: Any, index: Any, queries: list[str]) -> dict[str, Any]:
    """Per-query wall and CPU time, the calls interleaved query by query so they share the same load."""
    import torch

    from retrieval.encoder import Encoder
    from retrieval.searcher import Searcher

    searcher = Searcher(index, encoder=encoder)
    all_threads = Encoder(encoder.model, encoder.name, batch_size=encoder.batch_size, small_batch_threads=None)
    model = encoder.model
    vectors = {q: encoder.encode_queries([q]) for q in queries}
    calls: dict[str, Callable[[str], Any]] = {
        "searcher_query": lambda q: searcher.query(q, k=10),
        "encode_then_search_faiss_1_thread": lambda q: _search_1_thread(index, encoder.encode_queries([q])),
        "encode_query": lambda q: encoder.encode_queries([q]),
        "encode_query_all_threads": lambda q: all_threads.encode_queries([q]),
        "sentence_transformer_encode": lambda q: model.encode([q]),
        "index_search": lambda q: index.search(vectors[q], 10),
        "index_search_faiss_1_thread": _faiss_1_thread(lambda q: index.search(vectors[q], 10)),
    }
    for q in queries[:10]:  # warm-up
        for call in calls.values():
            call(q)
    wall: dict[str, list[float]] = {name: [] for name in calls}
    cpu: dict[str, list[float]] = {name: [] for name in calls}
    before = _load()
    for q in queries:
        for name, call in calls.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            call(q)
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    result: dict[str, Any] = {}
    for name in calls:
        result[name] = {**_ms_summary(wall[name]), "cpu_p50_ms": round(float(np.median(cpu[name])) * 1e3, 3)}
    result.update(
        queries=len(queries),
        index_docs=len(index),
        torch_threads=torch.get_num_threads(),
        small_batch_threads=encoder.small_batch_threads,
        target_p50_ms=10.0,
        load_before=before,
        load_after=_load(),
    )
    return result


def section_threads(encoder: Any, tokens: Sequence[int]) -> dict[str, Any]:
    """Best-of forward time for one sequence (up to 256 tokens) or several, 1 thread vs all.

    Also the CPU time of the one-thread pass: what an idle core would take, even on a busy machine.
    """
    import torch

    bert = encoder.model[0].auto_model
    total = torch.get_num_threads()
    rows = []
    for count in tokens:
        seq = min(count, 256)
        batch = max(1, count // seq)
        ids = torch.randint(1000, 20000, (batch, seq))
        mask = torch.ones_like(ids)
        row: dict[str, Any] = {"tokens": batch * seq, "batch": batch, "seq": seq}
        for threads in sorted({1, total}):
            torch.set_num_threads(threads)
            try:
                with torch.inference_mode():
                    bert(input_ids=ids, attention_mask=mask)
                    repeats = max(3, min(30, 4096 // (batch * seq)))
                    timings = [_timed(lambda: bert(input_ids=ids, attention_mask=mask)) for _ in range(repeats)]
            finally:
                torch.set_num_threads(total)
            row[f"ms_{threads}_threads"] = round(min(w for w, _ in timings) * 1e3, 3)
            if threads == 1:
                row["cpu_ms_1_thread"] = round(min(c for _, c in timings) * 1e3, 3)
        rows.append(row)
    return {"rows": rows, "all_threads": total, **_load()}


def _cpu_peak_gflops(n: int = 2048, repeats: int = 3) -> float:
    """Like `matmul_peak_gflops`, per CPU-second of this process (time spent descheduled not counted)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        torch.mm(a, b)
        best = min(best, time.process_time() - start)
    return 2 * n**3 / best / 1e9


def section_bulk(
    encoder: Any,
    corpus: list[dict[str, Any]],
    budgets: Sequence[int],
    repeats: int,
    thread_counts: Sequence[int],
    peak_n: int = 2048,
) -> dict[str, Any]:
    """Achieved GFLOP/s of corpus encoding at several token budgets and of plain model.encode.

    Wall-clock GFLOP/s is judged against `matmul_peak_gflops()` measured just before and after
    each configuration (the higher kept); GFLOP per CPU-second against the same product timed in
    CPU time, which on one thread shows what an idle core would do even when the machine is busy.
    """
    import torch

    from benchmarks.peak import matmul_peak_gflops
    from indexes import read_corpus
    from retrieval.encoder import Encoder, document_text

    texts = [document_text(d) for d in read_corpus(corpus)]
    model = encoder.model
    counter = _FlopCounter(model[0])
    configs: list[tuple[str, Callable[[], Any]]] = [
        ("SentenceTransformer.encode(batch_size=32)", lambda: model.encode(texts, batch_size=32, normalize_embeddings=True)),
    ]
    for budget in budgets:
        tuned = Encoder(model, encoder.name, batch_size=encoder.batch_size, token_budget=budget)
        name = f"Encoder(token_budget={budget})" + (" (default)" if budget == encoder.token_budget else "")
        configs.append((name, lambda tuned=tuned: tuned.encode_documents(texts, show_progress=False)))
    default_threads = torch.get_num_threads()
    runs = []
    try:
        model.encode(texts[:16])  # warm-up
        for threads in thread_counts:
            torch.set_num_threads(threads or default_threads)
            for name, call in configs:
                peak_before, cpu_peak = matmul_peak_gflops(peak_n), _cpu_peak_gflops(peak_n)
                best, best_cpu, flops = float("inf"), float("inf"), 0.0
                for _ in range(max(1, repeats)):
                    counter.reset()
                    start, start_cpu = time.perf_counter(), time.process_time()
                    call()
                    elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
                    best, best_cpu = min(best, elapsed), min(best_cpu, cpu)
                    flops, useful = counter.dense + counter.attn_padded, counter.dense + counter.attn_real
                peak = max(peak_before, matmul_peak_gflops(peak_n))
                gflops, gflops_cpu = flops / best / 1e9, flops / best_cpu / 1e9
                runs.append(
                    {
                        "config": name,
                        "threads": torch.get_num_threads(),
                        "seconds": round(best, 3),
                        "docs_per_s": round(len(texts) / best, 2),
                        "gflop": round(flops / 1e9, 2),
                        "gflops": round(gflops, 2),
                        "useful_gflops": round(useful / best / 1e9, 2),
                        "peak_gflops": round(peak, 2),
                        "ratio_to_peak": round(gflops / peak, 3),
                        "gflops_per_cpu_s": round(gflops_cpu, 2),
                        "cpu_peak_gflops": round(cpu_peak, 2),
                        "cpu_ratio": round(gflops_cpu / cpu_peak, 3),
                        **_load(),
                    }
                )
                print(f"  bulk {threads or default_threads}t {name}: {gflops:.1f} GFLOP/s / peak {peak:.1f}; "
                      f"per CPU-s {gflops_cpu:.1f} / {cpu_peak:.1f}", file=sys.stderr)
    finally:
        counter.close()
        torch.set_num_threads(default_threads)
    return {"docs": len(texts), "runs": runs, "target_ratio": 0.8}


def _unit_rows(block: np.ndarray) -> np.ndarray:
    return block / np.linalg.norm(block, axis=1, keepdims=True)


def _synthetic(kind: str, n: int, dim: int, seed: int, centers: int = 10_000, chunk: int = 100_000) -> np.ndarray:
    """Unit vectors: ``random`` (uniform on the sphere) or ``clustered`` (noisy copies of random centres)."""
    rng = np.random.default_rng(seed)
    middle = _unit_rows(np.random.default_rng(12345).standard_normal((centers, dim), dtype=np.float32))
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        block = rng.standard_normal((size, dim), dtype=np.float32)
        if kind == "clustered":  # noise of norm ~0.7 around a unit centre
            block = middle[rng.integers(0, centers, size)] + block * np.float32(0.7 / np.sqrt(dim))
        out[start : start + size] = _unit_rows(block)
    return out


def _single_ms(search: Callable[[np.ndarray], Any], queries: np.ndarray) -> dict[str, float]:
    search(queries[:1])
    seconds = []
    for q in queries:
        start = time.perf_counter()
        search(q[None, :])
        seconds.append(time.perf_counter() - start)
    return _ms_summary(seconds)


def _batched_ms(search: Callable[[np.ndarray], Any], queries: np.ndarray) -> tuple[float, Any]:
    start = time.perf_counter()
    found = search(queries)
    return (time.perf_counter() - start) * 1e3 / len(queries), found


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(f) & set(t)) / k for f, t in zip(found, truth)]))


def _faiss_dataset(args: argparse.Namespace, kind: str, dim: int, k: int) -> dict[str, Any]:
    import faiss
    from tqdm.auto import tqdm

    from indexes.vectors import VectorIndex

    n, nq = args.vectors, args.faiss_queries
    vectors = _synthetic(kind, n, dim, seed=0)
    queries = _synthetic(kind, nq, dim, seed=1)
    singles = queries[: min(nq, 100)]
    flat = VectorIndex(dim, "Flat", "ip", use_gpu=False)
    flat.add(vectors, np.arange(n, dtype=np.int64))
    flat_batch_ms, (_, truth) = _batched_ms(lambda x: flat.search(x, k), queries)
    flat_single = _single_ms(lambda x: flat.search(x, k), singles)
    with _FaissThreads(1):
        flat_single_1 = _single_ms(lambda x: flat.search(x, k), singles)
    print(f"  {kind}: flat batched {flat_batch_ms:.3f} ms/q, single p50 {flat_single['p50_ms']} ms", file=sys.stderr)
    result: dict[str, Any] = {
        "data": kind,
        "flat_batched_ms_per_query": round(flat_batch_ms, 4),
        "flat_single": flat_single,
        "flat_single_faiss_1_thread": flat_single_1,
        "approximate": [],
        **_load(),
    }
    del flat
    sample = vectors[np.random.default_rng(2).choice(n, size=min(args.train, n), replace=False)]
    for factory in [f.strip() for f in args.ivf.split(";") if f.strip()]:
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        start = time.perf_counter()
        index.train(sample)
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        for lo in tqdm(range(0, n, 100_000), desc=f"{kind} {factory} add", file=sys.stderr):
            index.add(vectors[lo : lo + 100_000])
        add_s = time.perf_counter() - start
        print(f"  {kind} {factory}: train {train_s:.1f} s, add {add_s:.1f} s", file=sys.stderr)
        params = faiss.ParameterSpace()
        refine = "RFlat" in factory or "Refine" in factory
        if refine:
            params.set_index_parameter(index, "k_factor_rf", args.k_factor)
        sweep = []
        for nprobe in (int(p) for p in args.nprobe.split(",")):
            params.set_index_parameter(index, "nprobe", nprobe)
            batch_ms, (_, found) = _batched_ms(lambda x: index.search(x, k), queries)
            with _FaissThreads(1):
                single = _single_ms(lambda x: index.search(x, k), singles)
            recall = _recall(found, truth)
            sweep.append(
                {
                    "nprobe": nprobe,
                    "recall_at_10": round(recall, 4),
                    "batched_ms_per_query": round(batch_ms, 4),
                    "speedup_batched": round(flat_batch_ms / batch_ms, 2),
                    "single_p50_ms_faiss_1_thread": single["p50_ms"],
                    "speedup_single": round(flat_single_1["p50_ms"] / single["p50_ms"], 2),
                }
            )
            print(f"  {kind} {factory} nprobe={nprobe}: recall@10 {recall:.3f}", file=sys.stderr)
        result["approximate"].append(
            {
                "factory": factory,
                "k_factor": args.k_factor if refine else None,
                "train_vectors": len(sample),
                "train_s": round(train_s, 1),
                "add_s": round(add_s, 1),
                "sweep": sweep,
            }
        )
        del index
    return result


def section_faiss(args: argparse.Namespace, dim: int = 384, k: int = 10) -> dict[str, Any]:
    """Flat (through the project's VectorIndex) and IVF-PQ over synthetic unit vectors, inner product."""
    import faiss

    from indexes.vectors import GPU_MAX_K, VectorIndex

    small = VectorIndex(dim, "Flat", "ip", use_gpu=False)
    rows = _synthetic("random", GPU_MAX_K + 1000, dim, seed=3)
    small.add(rows, np.arange(len(rows), dtype=np.int64))
    _, big_ids = small.search(rows[:2], GPU_MAX_K + 952)
    _, all_ids = small.search(rows[:2], 10 * len(rows))
    checks = {
        f"k={GPU_MAX_K + 952} (above the FAISS GPU limit {GPU_MAX_K}) on {len(rows)} vectors returns": list(big_ids.shape),
        f"k={10 * len(rows)} (above the corpus size {len(rows)}) returns": list(all_ids.shape),
    }
    datasets = [_faiss_dataset(args, kind.strip(), dim, k) for kind in args.data.split(",") if kind.strip()]
    return {
        "vectors": args.vectors,
        "dim": dim,
        "queries": args.faiss_queries,
        "k": k,
        "faiss_threads": faiss.omp_get_max_threads(),
        "checks": checks,
        "datasets": datasets,
    }


# ---------------------------------------------------------------- report


def _report(results: dict[str, Any]) -> str:
    lines = ["# Stage-1 performance", "", f"Machine: {results['machine']}", ""]
    lines.append(f"Command: `{results['command']}`")
    lines.append("")
    if "build" in results:
        b = results["build"]
        lines += [
            "## Build overhead",
            f"{b['docs']} SciFact docs: encoder {b['encoder_docs_per_s']} docs/s, build_index "
            f"{b['build_index_docs_per_s']} docs/s, ratio **{b['ratio']}** (target >= 0.9); in CPU time "
            f"{b['cpu_ratio']}; load {b['load1']}.",
            "",
        ]
    for key in ("latency_start", "latency_end"):
        if key in results:
            lat = results[key]
            lines += [f"## Single-query latency ({key.split('_')[1]} of run)", ""]
            lines += ["| call | p50 ms | p95 ms | min ms | CPU p50 ms |", "|---|---|---|---|---|"]
            for name, s in lat.items():
                if isinstance(s, dict) and "p50_ms" in s:
                    lines.append(f"| {name} | {s['p50_ms']} | {s['p95_ms']} | {s['min_ms']} | {s['cpu_p50_ms']} |")
            lines += [
                "",
                f"{lat['queries']} queries, Flat index of {lat['index_docs']} docs, load {lat['load_before']} -> "
                f"{lat['load_after']}. Target: searcher_query p50 <= 10 ms. CPU ms: process time (all threads,"
                " spinning included); for one-thread calls it is what an idle core would take.",
                "",
            ]
    if "threads" in results:
        t = results["threads"]
        lines += [
            f"## One forward pass: 1 thread vs all (best of several; load {t['load1']})",
            "",
            "| tokens | batch x seq | 1 thread ms | all threads ms | 1 thread, CPU ms |",
            "|---|---|---|---|---|",
        ]
        all_key = f"ms_{t['all_threads']}_threads"
        for row in t["rows"]:
            lines.append(
                f"| {row['tokens']} | {row['batch']} x {row['seq']} | {row['ms_1_threads']} | {row[all_key]} | "
                f"{row['cpu_ms_1_thread']} |"
            )
        lines.append("")
    if "bulk" in results:
        lines += [
            f"## Bulk encoding ({results['bulk']['docs']} SciFact docs)",
            "",
            "| config | threads | docs/s | GFLOP/s | useful | peak | ratio | per CPU-s | CPU peak | CPU ratio | load |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for run in results["bulk"]["runs"]:
            lines.append(
                f"| {run['config']} | {run['threads']} | {run['docs_per_s']} | {run['gflops']} | {run['useful_gflops']} | "
                f"{run['peak_gflops']} | **{run['ratio_to_peak']}** | {run['gflops_per_cpu_s']} | "
                f"{run['cpu_peak_gflops']} | {run['cpu_ratio']} | {run['load1']} |"
            )
        lines += ["", "FLOPs per layer: 2*real_tokens*(4h^2 + 2h*ffn) + per sequence 4*L^2*h (L padded as run).", ""]
    if "faiss" in results:
        f = results["faiss"]
        lines += [f"## FAISS over {f['vectors']:,} unit {f['dim']}-d vectors (inner product, k={f['k']})", ""]
        lines += [f"Checks: {f['checks']}", ""]
        for data in f["datasets"]:
            lines += [
                f"### {data['data']} vectors (load {data['load1']})",
                "",
                f"Flat: batched ({f['queries']} queries) {data['flat_batched_ms_per_query']} ms/query; single query "
                f"p50 {data['flat_single']['p50_ms']} ms (FAISS default threads), "
                f"{data['flat_single_faiss_1_thread']['p50_ms']} ms (1 FAISS thread).",
                "",
                "| index | nprobe | recall@10 | batched ms/q | speed-up | single p50 ms (1 thread) | speed-up |",
                "|---|---|---|---|---|---|---|",
            ]
            for approx in data["approximate"]:
                name = approx["factory"] + (f" k_factor={approx['k_factor']}" if approx["k_factor"] else "")
                for s in approx["sweep"]:
                    lines.append(
                        f"| {name} | {s['nprobe']} | {s['recall_at_10']} | {s['batched_ms_per_query']} | "
                        f"{s['speedup_batched']} | {s['single_p50_ms_faiss_1_thread']} | {s['speedup_single']} |"
                    )
                lines.append(f"| (train {approx['train_vectors']:,} in {approx['train_s']} s, add {approx['add_s']} s) | | | | | | |")
            lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        print(f"error: unknown sections {unknown}; choose from {SECTIONS}", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    results: dict[str, Any] = {
        "command": "python -m benchmarks.perf_stage1 " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__} with {torch.get_num_threads()} threads",
        "sections": sections,
        "load_start": _load(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        needs_model = set(sections) - {"faiss"}
        if needs_model:
            from retrieval.encoder import Encoder
            from retrieval.indexing import build_index

            model_path = _build_model(args, Path(tmp))
            encoder = Encoder.load(str(model_path), device="cpu")
            corpus, queries = _scifact(args.dataset, args.docs, args.queries)
            results["model"] = {"path": str(model_path), "note": "MiniLM-L6-H384 shape, random weights (not pretrained)"}
        index = None
        if "latency" in sections:
            print("latency (start) ...", file=sys.stderr)
            index = build_index(corpus, encoder, "Flat", use_gpu=False, show_progress=False)
            results["latency_start"] = section_latency(encoder, index, queries)
        if "build" in sections:
            print("build ...", file=sys.stderr)
            results["build"] = section_build(encoder, corpus, args.repeats)
        if "threads" in sections:
            print("threads ...", file=sys.stderr)
            results["threads"] = section_threads(encoder, [int(t) for t in args.thread_tokens.split(",") if t.strip()])
        if "bulk" in sections:
            print("bulk ...", file=sys.stderr)
            budgets = [int(b) for b in args.budgets.split(",") if b.strip()]
            threads = [int(t) for t in args.bulk_threads.split(",") if t.strip()]
            bulk_corpus = _scifact(args.dataset, args.bulk_docs, 1)[0]
            results["bulk"] = section_bulk(encoder, bulk_corpus, budgets, args.repeats, threads, args.peak_n)
        if "faiss" in sections:
            print("faiss ...", file=sys.stderr)
            with _FaissThreads(args.faiss_threads or _faiss_default_threads()):
                results["faiss"] = section_faiss(args)
        if "latency" in sections and len(sections) > 1:
            print("latency (end) ...", file=sys.stderr)
            results["latency_end"] = section_latency(encoder, index, queries)
    results["load_end"] = _load()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    (args.out / "report.md").write_text(_report(results))
    print(_report(results))
    print(f"wrote {args.out / 'results.json'} and report.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
