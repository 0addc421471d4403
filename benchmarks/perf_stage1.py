"""Stage-1 speed: build overhead, single-query latency, bulk-encoding GFLOP/s, FAISS flat vs IVF-PQ.

The encoder is the packaged all-MiniLM-L6-v2 (``--model`` another); where that package is not installed,
a MiniLM-L6-H384-*shaped* BERT with random weights built from the shared WordPiece tokenizer (speed does
not depend on the weights; the precision section's nDCG@10 then means nothing). Every ratio
is taken within one run, because the machine may be shared; the latency section runs at the start
and again at the end, and each run records the load average.

Sections (``--sections``, comma-separated, default all; the code is in `benchmarks.perf`):
    build    encoder docs/s vs build_index docs/s on the same SciFact documents (target >= 0.9).
    latency  single-query encode + Flat search p50/p95 over SciFact test queries (target p50 <= 10 ms),
             beside plain ``SentenceTransformer.encode([q])``, the encoder on all threads, and the
             FAISS search alone on its default threads and on one; wall and CPU time per call.
    threads  one forward pass at growing token counts on 1 thread vs all (chooses the small-batch rule).
    bulk     bulk-encoding GFLOP/s against a matmul peak measured in the same run (target >= 0.85);
             FLOPs as counted by `benchmarks.perf.flops`.
    faiss    Flat search over 1M synthetic 384-d unit vectors, uniform ("random") and in 10,000 noisy
             clusters ("clustered"): ms/query single and batched; IVF-PQ (and IVF-PQ re-scored
             exactly, RFlat) recall@10 against exact and speed-up per nprobe; k above the corpus
             and above the FAISS GPU limit.

Writes ``<out>/results.json`` and ``<out>/report.md`` and prints the report.

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.paths import project_dir, shared_dir
from benchmarks.perf.backends import installed_backends
from benchmarks.perf.measure import FaissThreads, faiss_default_threads, load_summary
from benchmarks.perf.stage1_bulk import section_bulk
from benchmarks.perf.stage1_encoder import section_build, section_latency, section_threads
from benchmarks.perf.stage1_faiss import section_faiss
from benchmarks.perf.stage1_precision import section_precision
from benchmarks.perf.stage1_report import stage1_report

__all__ = ["main"]

SECTIONS = ("build", "latency", "threads", "bulk", "precision", "faiss")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf_stage1", description=__doc__.split("\n")[0])
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, from {SECTIONS}")
    parser.add_argument("--dataset", type=Path, default=shared_dir() / "datasets" / "scifact")
    parser.add_argument("--tokenizer", type=Path, default=shared_dir() / "tokenizers" / "bert-uncased-wordpiece")
    parser.add_argument("--model", type=Path, help="a saved sentence-transformers model (default: the packaged all-MiniLM-L6-v2, else its shape with random weights)")
    parser.add_argument("--max-length", type=int, default=256, help="max tokens, as all-MiniLM-L6-v2 (256)")
    parser.add_argument("--docs", type=int, default=1000, help="SciFact documents for build and latency (0: all)")
    parser.add_argument("--bulk-docs", type=int, default=500, help="SciFact documents per bulk run (0: all)")
    parser.add_argument(
        "--precision-docs", type=int, default=0,
        help="documents for the precision section (0: the whole corpus; else the judged ones plus a sample)",
    )
    parser.add_argument("--repeats", type=int, default=2, help="timed repeats for throughput (best kept)")
    parser.add_argument("--queries", type=int, default=0, help="SciFact test queries to time (0: all 300)")
    parser.add_argument("--budgets", default="1024,2048,4096,8192", help="token budgets swept in bulk")
    parser.add_argument("--peak-n", type=int, default=2048, help="size of the matmul that measures the peak")
    parser.add_argument("--bulk-threads", default="0,1", help="torch threads for bulk runs (0: torch default)")
    parser.add_argument(
        "--bulk-backends", default="packed,onnx,openvino",
        help="other encoder backends also timed in bulk (packed; onnx and openvino where installed; '' for none)",
    )
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
    parser.add_argument("--out", type=Path, default=project_dir() / "results" / "perf_stage1")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (the libraries' own included)")
    return parser


def _scifact(dataset: Path, docs: int, queries: int) -> tuple[list[dict[str, Any]], list[str]]:
    """The first `docs` corpus records (0: all) and the first `queries` test-query texts (0: all) of a BEIR folder."""
    from benchmarks.collection import judged_query_texts
    from indexes.corpus import read_jsonl

    if not (dataset / "corpus.jsonl").exists():
        raise FileNotFoundError(f"{dataset}: no corpus.jsonl; pass --dataset with a BEIR SciFact folder")
    corpus = read_jsonl(dataset / "corpus.jsonl")
    corpus = corpus[:docs] if docs > 0 else corpus
    texts = list(judged_query_texts(dataset).values())
    return corpus, texts[:queries] if queries > 0 else texts


def _build_model(args: argparse.Namespace, workdir: Path) -> tuple[Path, str]:
    if args.model:
        return args.model, f"given {args.model}"
    from benchmarks.perf.models import default_bi_encoder

    return default_bi_encoder(args.tokenizer, workdir, args.max_length)


def _ratios(results: dict[str, Any]) -> dict[str, Any]:
    """The run's headline figures, each from this one run (None for a section not run)."""
    latency = results.get("latency_end") or results.get("latency_start") or {}
    searcher, plain = latency.get("searcher_query", {}), latency.get("sentence_transformer_encode", {})
    bulk = results.get("bulk", {}).get("runs", [])
    ours = [r for r in bulk if r["config"].startswith("Encoder(") and r.get("backend", "torch") == "torch"]
    exported = {r["backend"] for r in bulk if r.get("backend", "torch") != "torch"}
    default = [r for r in ours if "(default)" in r["config"]] or ours  # the default budget, when it was run
    ratio = searcher["p50_ms"] / plain["p50_ms"] if searcher.get("p50_ms") and plain.get("p50_ms") else None
    return {
        "single_query_p50_ms": searcher.get("p50_ms"),
        "single_query_p95_ms": searcher.get("p95_ms"),
        "sentence_transformer_encode_p50_ms": plain.get("p50_ms"),
        "single_query_p50_vs_sentence_transformer": round(ratio, 3) if ratio else None,
        "single_query_backend": latency.get("backend"),
        "single_query_torch_p50_ms": latency.get("searcher_query_torch", {}).get("p50_ms"),
        "encode_fraction_of_peak": max((r["ratio_to_peak"] for r in default), default=None),
        **{
            f"encode_fraction_of_peak_{b}": max(r["ratio_to_peak"] for r in bulk if r.get("backend") == b)
            for b in sorted(exported)
        },
        "bulk_speedup_int8": results.get("precision", {}).get("speedup_packed_int8"),
        "bulk_ndcg_delta_int8": results.get("precision", {}).get("ndcg_delta_packed_int8"),
        "bulk_speedup_bf16": results.get("precision", {}).get("speedup_bf16"),
        "ndcg_delta_bf16": results.get("precision", {}).get("ndcg_delta_bf16"),
        **{
            f"bulk_{key}": value
            for key, value in results.get("precision", {}).items()
            if key.startswith(("speedup_packed", "ndcg_delta_packed"))
        },
    }


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
        "load_start": load_summary(),
    }
    from retrieval.progress import quiet_progress

    with tempfile.TemporaryDirectory() as tmp, quiet_progress(args.no_progress):
        needs_model = set(sections) - {"faiss"}
        if needs_model:
            from retrieval.encoder import Encoder
            from retrieval.indexing import build_index

            model_path, description = _build_model(args, Path(tmp))
            encoder = Encoder.load(str(model_path), device="cpu")
            corpus, queries = _scifact(args.dataset, args.docs, args.queries)
            results["model"] = {"path": str(model_path), "note": description}
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
            exported = installed_backends(args.bulk_backends, ("packed", "onnx", "openvino"))
            results["bulk"] = section_bulk(encoder, bulk_corpus, budgets, args.repeats, threads, args.peak_n, exported)
        if "precision" in sections:
            print("precision ...", file=sys.stderr)
            from benchmarks.collection import load_beir, sample_corpus

            full = load_beir(args.dataset)
            results["precision"] = section_precision(model_path, sample_corpus(full, args.precision_docs or None, seed=0))
        if "faiss" in sections:
            print("faiss ...", file=sys.stderr)
            with FaissThreads(args.faiss_threads or faiss_default_threads()):
                results["faiss"] = section_faiss(args)
        if "latency" in sections and len(sections) > 1:
            print("latency (end) ...", file=sys.stderr)
            results["latency_end"] = section_latency(encoder, index, queries)
    results["load_end"] = load_summary()
    results["ratios"] = _ratios(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    (args.out / "ratios.json").write_text(json.dumps(results["ratios"], indent=2))
    (args.out / "report.md").write_text(stage1_report(results))
    print(stage1_report(results))
    print(f"wrote {args.out / 'results.json'} and report.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
