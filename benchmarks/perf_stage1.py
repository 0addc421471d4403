"""Stage-1 speed: build overhead, single-query latency, bulk-encoding GFLOP/s, FAISS flat vs IVF-PQ.

The encoder is a MiniLM-L6-H384-*shaped* BERT with random weights, built here from the shared
WordPiece tokenizer (speed does not depend on the weights; it is not a pretrained model). Every ratio
is taken within one run, because the machine may be shared; the latency section runs at the start
and again at the end, and each run records the load average.

Sections (``--sections``, comma-separated, default all):
    build    encoder docs/s vs build_index docs/s on the same SciFact documents (target >= 0.9).
    latency  single-query encode + Flat search p50/p95 over SciFact test queries (target p50 <= 10 ms),
             beside plain ``SentenceTransformer.encode([q])`` and the encoder on all threads.
    threads  one forward pass at growing token counts on 1 thread vs all (chooses the small-batch rule).
    bulk     bulk-encoding GFLOP/s against a matmul peak measured in the same run (target >= 0.8).
    faiss    Flat search over random 384-d vectors (ms/query, single and batched); IVF-PQ recall@10
             against exact and its speed-up; k above the corpus and above the GPU limit.

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
    parser.add_argument("--docs", type=int, default=1000, help="SciFact documents to encode (0: all)")
    parser.add_argument("--repeats", type=int, default=2, help="timed repeats for throughput (best kept)")
    parser.add_argument("--queries", type=int, default=0, help="SciFact test queries to time (0: all 300)")
    parser.add_argument("--budgets", default="2048,4096,8192,16384", help="token budgets swept in bulk")
    parser.add_argument("--vectors", type=int, default=1_000_000, help="random vectors for the faiss section")
    parser.add_argument("--faiss-queries", type=int, default=1000, help="queries for batched search/recall")
    parser.add_argument("--ivf", default="IVF1024,PQ48", help="approximate FAISS factory string")
    parser.add_argument("--nprobe", default="1,4,16,64,256", help="IVF probes swept")
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


def section_build(encoder: Any, corpus: list[dict[str, Any]], repeats: int) -> dict[str, Any]:
    """Encoder docs/s and build_index docs/s on the same documents, runs interleaved, best of each."""
    from indexes import read_corpus
    from retrieval.indexing import build_index

    docs = read_corpus(corpus)
    encoder.encode_documents(docs[:32], show_progress=False)  # warm-up
    encode_s, build_s = [], []
    for _ in range(max(1, repeats)):
        encode_s.append(_best_time(lambda: encoder.encode_documents(docs, show_progress=False), 1))
        build_s.append(_best_time(lambda: build_index(corpus, encoder, "Flat", use_gpu=False, show_progress=False), 1))
    n = len(docs)
    encoder_dps, build_dps = n / min(encode_s), n / min(build_s)
    return {
        "docs": n,
        "encoder_docs_per_s": round(encoder_dps, 2),
        "build_index_docs_per_s": round(build_dps, 2),
        "ratio": round(build_dps / encoder_dps, 3),
        "target_ratio": 0.9,
        "encode_seconds": [round(s, 3) for s in encode_s],
        "build_seconds": [round(s, 3) for s in build_s],
        **_load(),
    }


def section_latency(encoder: Any, index: Any, queries: list[str]) -> dict[str, Any]:
    """Per-query latency, the timed calls interleaved query by query so they share the same load."""
    import torch

    from retrieval.encoder import Encoder
    from retrieval.searcher import Searcher

    searcher = Searcher(index, encoder=encoder)
    all_threads = Encoder(encoder.model, encoder.name, batch_size=encoder.batch_size, small_batch_threads=None)
    model = encoder.model
    calls: dict[str, Callable[[str], Any]] = {
        "searcher_query": lambda q: searcher.query(q, k=10),
        "encode_query": lambda q: encoder.encode_queries([q]),
        "encode_query_all_threads": lambda q: all_threads.encode_queries([q]),
        "sentence_transformer_encode": lambda q: model.encode([q], normalize_embeddings=True),
    }
    for q in queries[:10]:  # warm-up
        for call in calls.values():
            call(q)
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    before = _load()
    for q in queries:
        for name, call in calls.items():
            start = time.perf_counter()
            call(q)
            seconds[name].append(time.perf_counter() - start)
    result = {name: _ms_summary(s) for name, s in seconds.items()}
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


def section_threads(encoder: Any, tokens: Sequence[int] = (8, 16, 32, 64, 128, 256, 512, 1024, 2048)) -> dict[str, Any]:
    """Best-of forward time for one sequence (up to 256 tokens) or several, 1 thread vs all."""
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
                    best = _best_time(lambda: bert(input_ids=ids, attention_mask=mask), repeats)
            finally:
                torch.set_num_threads(total)
            row[f"ms_{threads}_threads"] = round(best * 1e3, 3)
        rows.append(row)
    return {"rows": rows, "all_threads": total, **_load()}


def section_bulk(encoder: Any, corpus: list[dict[str, Any]], budgets: Sequence[int], repeats: int) -> dict[str, Any]:
    """Achieved GFLOP/s of corpus encoding at several token budgets and of plain model.encode."""
    from benchmarks.peak import matmul_peak_gflops
    from indexes import read_corpus
    from retrieval.encoder import Encoder, document_text

    texts = [document_text(d) for d in read_corpus(corpus)]
    model = encoder.model
    counter = _FlopCounter(model[0])
    runs = []
    configs: list[tuple[str, Callable[[], Any]]] = [
        ("sentence_transformer_encode(batch_size=32)", lambda: model.encode(texts, batch_size=32, normalize_embeddings=True)),
    ]
    for budget in budgets:
        tuned = Encoder(model, encoder.name, batch_size=max(64, budget // 16), token_budget=budget)
        configs.append((f"Encoder(token_budget={budget})", lambda tuned=tuned: tuned.encode_documents(texts, show_progress=False)))
    configs.append(("Encoder() defaults", lambda: encoder.encode_documents(texts, show_progress=False)))
    try:
        model.encode(texts[:16])  # warm-up
        for name, call in configs:
            peak_before = matmul_peak_gflops()
            best, flops = float("inf"), (0.0, 0.0, 0.0)
            for _ in range(max(1, repeats)):
                counter.reset()
                start = time.perf_counter()
                call()
                elapsed = time.perf_counter() - start
                if elapsed < best:
                    best, flops = elapsed, (counter.dense, counter.attn_padded, counter.attn_real)
            peak = max(peak_before, matmul_peak_gflops())
            dense, attn_padded, attn_real = flops
            gflops = (dense + attn_padded) / best / 1e9
            runs.append(
                {
                    "config": name,
                    "seconds": round(best, 3),
                    "docs_per_s": round(len(texts) / best, 2),
                    "gflop": round((dense + attn_padded) / 1e9, 2),
                    "gflops": round(gflops, 2),
                    "useful_gflops": round((dense + attn_real) / best / 1e9, 2),
                    "padding_attn_share": round(1 - attn_real / attn_padded, 4) if attn_padded else 0.0,
                    "peak_gflops": round(peak, 2),
                    "ratio_to_peak": round(gflops / peak, 3),
                    **_load(),
                }
            )
            print(f"  bulk {name}: {gflops:.1f} GFLOP/s, peak {peak:.1f}", file=sys.stderr)
    finally:
        counter.close()
    return {"docs": len(texts), "runs": runs, "target_ratio": 0.8}


def _random_unit(n: int, dim: int, seed: int, chunk: int = 100_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        block = rng.standard_normal((min(chunk, n - start), dim), dtype=np.float32)
        out[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def section_faiss(args: argparse.Namespace, dim: int = 384, k: int = 10) -> dict[str, Any]:
    """Flat (through the project's VectorIndex) and IVF-PQ over random unit vectors, inner product."""
    import faiss
    from tqdm.auto import tqdm

    from indexes.vectors import GPU_MAX_K, VectorIndex

    n, nq = args.vectors, args.faiss_queries
    vectors = _random_unit(n, dim, seed=0)
    queries = _random_unit(nq, dim, seed=1)
    flat = VectorIndex(dim, "Flat", "ip", use_gpu=False)
    flat.add(vectors, np.arange(n, dtype=np.int64))
    singles = min(nq, 100)
    flat.search(queries[:1], k)
    single_s = []
    for q in queries[:singles]:
        start = time.perf_counter()
        flat.search(q[None, :], k)
        single_s.append(time.perf_counter() - start)
    start = time.perf_counter()
    _, truth = flat.search(queries, k)
    flat_batch_ms = (time.perf_counter() - start) * 1e3 / nq
    big_k = GPU_MAX_K + 952
    _, big_ids = flat.search(queries[:2], big_k)
    small = VectorIndex(dim, "Flat", "ip", use_gpu=False)
    small.add(vectors[:5], np.arange(5, dtype=np.int64))
    _, few_ids = small.search(queries[:2], 50)
    result: dict[str, Any] = {
        "vectors": n,
        "dim": dim,
        "queries": nq,
        "k": k,
        "flat_single": _ms_summary(single_s),
        "flat_batched_ms_per_query": round(flat_batch_ms, 4),
        "checks": {
            f"k={big_k} (above the GPU limit {GPU_MAX_K}) returns": list(big_ids.shape),
            "k=50 on a 5-vector index returns": list(few_ids.shape),
        },
        "faiss_threads": faiss.omp_get_max_threads(),
        **_load(),
    }
    del flat

    ivf = faiss.index_factory(dim, args.ivf, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(2)
    sample = vectors[rng.choice(n, size=min(args.train, n), replace=False)]
    start = time.perf_counter()
    ivf.train(sample)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    for lo in tqdm(range(0, n, 100_000), desc="IVF-PQ add", file=sys.stderr):
        ivf.add(vectors[lo : lo + 100_000])
    add_s = time.perf_counter() - start
    params = faiss.ParameterSpace()
    sweeps = []
    for nprobe in (int(p) for p in args.nprobe.split(",")):
        params.set_index_parameter(ivf, "nprobe", nprobe)
        ivf.search(queries[:1], k)
        start = time.perf_counter()
        _, found = ivf.search(queries, k)
        batch_ms = (time.perf_counter() - start) * 1e3 / nq
        single_s = []
        for q in queries[:singles]:
            start = time.perf_counter()
            ivf.search(q[None, :], k)
            single_s.append(time.perf_counter() - start)
        recall = float(np.mean([len(set(f) & set(t)) / k for f, t in zip(found, truth)]))
        single = _ms_summary(single_s)
        sweeps.append(
            {
                "nprobe": nprobe,
                "recall_at_10": round(recall, 4),
                "batched_ms_per_query": round(batch_ms, 4),
                "speedup_batched": round(flat_batch_ms / batch_ms, 2),
                "single_p50_ms": single["p50_ms"],
                "speedup_single": round(result["flat_single"]["p50_ms"] / single["p50_ms"], 2),
            }
        )
        print(f"  {args.ivf} nprobe={nprobe}: recall@10 {recall:.3f}", file=sys.stderr)
    result["ivf"] = {
        "factory": args.ivf,
        "train_vectors": len(sample),
        "train_s": round(train_s, 1),
        "add_s": round(add_s, 1),
        "sweep": sweeps,
    }
    return result


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
            f"{b['build_index_docs_per_s']} docs/s, ratio **{b['ratio']}** (target >= 0.9); load {b['load1']}.",
            "",
        ]
    for key in ("latency_start", "latency_end"):
        if key in results:
            lat = results[key]
            lines += [f"## Single-query latency ({key.split('_')[1]} of run)", ""]
            lines += ["| call | p50 ms | p95 ms | min ms |", "|---|---|---|---|"]
            for name in ("searcher_query", "encode_query", "encode_query_all_threads", "sentence_transformer_encode"):
                s = lat[name]
                lines.append(f"| {name} | {s['p50_ms']} | {s['p95_ms']} | {s['min_ms']} |")
            lines += [
                "",
                f"{lat['queries']} queries, Flat index of {lat['index_docs']} docs, load {lat['load_before']} -> "
                f"{lat['load_after']}. Target: searcher_query p50 <= 10 ms.",
                "",
            ]
    if "threads" in results:
        t = results["threads"]
        lines += ["## One forward pass: 1 thread vs all", "", "| tokens | batch x seq | 1 thread ms | all ms |", "|---|---|---|---|"]
        all_key = f"ms_{t['all_threads']}_threads"
        for row in t["rows"]:
            lines.append(
                f"| {row['tokens']} | {row['batch']} x {row['seq']} | {row['ms_1_threads']} | {row[all_key]} |"
            )
        lines.append("")
    if "bulk" in results:
        lines += ["## Bulk encoding", "", "| config | docs/s | GFLOP/s | useful GFLOP/s | peak | ratio | load |", "|---|---|---|---|---|---|---|"]
        for run in results["bulk"]["runs"]:
            lines.append(
                f"| {run['config']} | {run['docs_per_s']} | {run['gflops']} | {run['useful_gflops']} | "
                f"{run['peak_gflops']} | **{run['ratio_to_peak']}** | {run['load1']} |"
            )
        lines += ["", "FLOPs per layer: 2*real_tokens*(4h^2 + 2h*ffn) + per sequence 4*L^2*h (L padded as run).", ""]
    if "faiss" in results:
        f = results["faiss"]
        lines += [
            f"## FAISS over {f['vectors']:,} random unit {f['dim']}-d vectors (inner product, k={f['k']})",
            "",
            f"Flat: single query p50 {f['flat_single']['p50_ms']} ms; batched ({f['queries']} queries) "
            f"{f['flat_batched_ms_per_query']} ms/query. Checks: {f['checks']}.",
            "",
            f"{f['ivf']['factory']} (trained on {f['ivf']['train_vectors']:,} in {f['ivf']['train_s']} s, "
            f"add {f['ivf']['add_s']} s):",
            "",
            "| nprobe | recall@10 | batched ms/q | speed-up | single p50 ms | speed-up |",
            "|---|---|---|---|---|---|",
        ]
        for s in f["ivf"]["sweep"]:
            lines.append(
                f"| {s['nprobe']} | {s['recall_at_10']} | {s['batched_ms_per_query']} | {s['speedup_batched']} | "
                f"{s['single_p50_ms']} | {s['speedup_single']} |"
            )
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
            results["threads"] = section_threads(encoder)
        if "bulk" in sections:
            print("bulk ...", file=sys.stderr)
            budgets = [int(b) for b in args.budgets.split(",") if b.strip()]
            results["bulk"] = section_bulk(encoder, corpus, budgets, args.repeats)
        if "faiss" in sections:
            print("faiss ...", file=sys.stderr)
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
