"""Stage-2 speed: the reranker against the naive ``CrossEncoder.predict`` loop, on SciFact candidates.

The cross-encoder timed is ``--model``, by default the one the main job fine-tuned from
all-MiniLM-L6-v2 (``python -m benchmarks.run scifact``, seed 0, looked up in ``--cache-dir``, never
trained here), else the packaged MiniLM body with a new one-logit head (untrained: speed only), else a
random-weight BERT classifier of its shape (`benchmarks.perf.models`). Stage 1 is BM25 (bm25s, `benchmarks.bm25`) over SciFact: each test
query's top `--candidates`. Every reranker scores pairs alone (a trained model's calibrated
stage-1 fusion is off, `benchmarks.perf.rerank_timing.pairs_only`), as the naive loop does.

Sections (the code is in `benchmarks.perf.rerank_timing`):
    throughput  the naive loop users write, ``CrossEncoder.predict(pairs_of_one_query, batch_size=32)``
                once per query, against ``CrossEncoderReranker.score`` (all pairs of a chunk of queries
                in one call) with its default backend (packed) and with each of ``--backends``
                (torch, onnx, openvino), each precision it offers, on the same pairs. Chunks alternate which runs
                first, so load from other processes falls on all of them alike; ratios come from one
                run. Max |score difference| against the naive loop is reported (fp32 target <= 1e-4).
    latency     stage-2 ms per query (one query per call) at 10, 20, 50, 100 candidates.
    quality     every method against fp32: nDCG@10, Kendall tau and top-10 overlap. With an untrained
                head nDCG is noise; pass ``--quality-model`` (a trained cross-encoder) for a meaningful
                nDCG comparison. ``ratios.json`` names the fastest int8 method within 0.005 nDCG@10
                and Kendall tau >= 0.99 of fp32.

FLOPs per pair are counted on its real tokens (no padding), as `benchmarks.perf.flops` describes.
``GFLOP/s`` counts the dense (linear-layer) work of the full model; ``with attention`` adds the
attention matmuls. Both are the model's nominal work, the same for every method, so ratios of
GFLOP/s are ratios of pairs/s. The matmul peak (`benchmarks.peak`) is measured in the same run,
before, between and after the sections.

Writes ``<out>/results.json``, ``<out>/ratios.json`` and ``<out>/report.md`` and prints the report.

Example:
    python -m benchmarks.perf_rerank --queries 8
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any
from dataclasses import replace
from pathlib import Path

from benchmarks.paths import project_dir, shared_dir
from benchmarks.perf.backends import installed_backends
from benchmarks.perf.flops import attention_flops, dense_flops, executed_dense_share
from benchmarks.perf.measure import load_averages
from benchmarks.perf.models import default_cross_encoder
from benchmarks.perf.rerank_report import rerank_report
from benchmarks.perf.rerank_timing import (
    NOT_OFFERED,
    bm25_candidates,
    int8_quality,
    method_table,
    pairs_only,
    peak_gflops,
    time_latency,
    time_throughput,
    trained_model_quality,
)

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf_rerank", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=shared_dir() / "datasets" / "scifact")
    parser.add_argument("--tokenizer", type=Path, default=shared_dir() / "tokenizers" / "bert-uncased-wordpiece")
    parser.add_argument("--queries", type=int, default=8, help="test queries for throughput (default 8)")
    parser.add_argument("--all", action="store_true", help="every test query (300) for throughput: hours")
    parser.add_argument("--candidates", type=int, default=100, help="stage-1 candidates per query (default 100)")
    parser.add_argument("--chunk", type=int, default=4, help="queries per reranker call in the throughput run")
    parser.add_argument("--latency-depths", default="10,20,50,100", help="candidates per query for latency")
    parser.add_argument("--latency-queries", type=int, default=3, help="queries timed per depth (default 3)")
    parser.add_argument("--max-tokens", type=int, default=None, help="the reranker's token budget per batch")
    parser.add_argument("--workers", type=int, default=None, help="the reranker's worker threads (default: torch's)")
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 variants")
    parser.add_argument("--no-bf16", action="store_true", help="skip the bf16 variants")
    parser.add_argument(
        "--backends", default="torch,onnx,openvino",
        help="reranker backends timed beside the default (packed) one, each precision it offers: torch, onnx, "
        "openvino (onnx and openvino where installed)",
    )
    parser.add_argument(
        "--extra-budgets", default="", help="also time fp32 at these max_tokens (comma-separated) in the same run"
    )
    parser.add_argument("--quality-model", type=Path, help="a trained cross-encoder for the int8 nDCG check")
    parser.add_argument("--quality-queries", type=int, default=0, help="test queries for --quality-model (0: all)")
    parser.add_argument(
        "--quality-depth", type=int, default=0, help="BM25 candidates per query for --quality-model (0: --candidates)"
    )
    parser.add_argument(
        "--model", type=Path,
        help="a saved cross-encoder to time (default: the main job's fine-tuned one when cached, else the packaged "
        "all-MiniLM-L6-v2 body with a one-logit head, else its shape with random weights)",
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=project_dir() / ".cache" / "benchmarks",
        help="benchmarks.run's cache, where the default model is looked up (default .cache/benchmarks)",
    )
    parser.add_argument("--docs", type=int, default=0, help="index the first N documents only (0: all; smoke tests)")
    parser.add_argument("--peak-size", type=int, default=2048, help="n of the n x n x n matmul peak (default 2048)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--out", type=Path, default=project_dir() / "results" / "perf_rerank")
    return parser


def _fastest(methods: dict, agree: dict, kind: str, tau: float | None) -> str | None:
    """The fastest method of `kind` ("int8", "bf16", "": any) within 0.005 nDCG@10 of fp32 (and Kendall tau >= `tau`)."""
    kept = [
        name for name in methods
        if kind in name and name in agree and abs(agree[name]["ndcg_delta"]) <= 0.005
        and (tau is None or agree[name]["kendall_tau"] >= tau)
    ]
    return max(kept, key=lambda name: methods[name]["speedup"], default=None)


def _ratios(result: dict) -> dict[str, Any]:
    """The run's headline ratios, each taken within this one run: speed-ups over the naive loop, int8's nDCG change.

    ``speedup_<method>`` for every method timed. Agreement comes from the trained model's queries when
    ``--quality-model`` was given, else from the timed pairs. ``best_int8`` / ``best_bf16``: the
    fastest int8 / bf16 method within 0.005 nDCG@10 of fp32 (the issue's int8 target);
    ``default_choice``: the fastest method, fp32 included, within 0.005 nDCG@10 whose scores keep
    Kendall tau >= 0.99 against fp32 (the rule the default backend follows).
    """
    methods = result["throughput"]["methods"]
    quality = result.get("model_quality") or result["quality"]
    agree = {"fp32": {"ndcg_delta": 0.0, "kendall_tau": 1.0}, **quality.get("vs_fp32", {})}
    best = _fastest(methods, agree, "int8", None)
    best_bf16 = _fastest(methods, agree, "bf16", None)
    default = _fastest(methods, agree, "", 0.99)
    return {
        "speedup_fp32": methods.get("fp32", {}).get("speedup"),
        "speedup_int8": methods.get("int8", {}).get("speedup"),
        "ndcg_delta_int8": agree.get("int8", {}).get("ndcg_delta"),
        "max_abs_diff_fp32": methods.get("fp32", {}).get("max_abs_diff"),
        "pct_peak_fp32": methods.get("fp32", {}).get("pct_peak"),
        **{f"speedup_{name.replace(' ', '_')}": m["speedup"] for name, m in methods.items()},
        "best_int8": best,
        "speedup_best_int8": methods[best]["speedup"] if best else None,
        "best_bf16": best_bf16,
        "speedup_best_bf16": methods[best_bf16]["speedup"] if best_bf16 else None,
        "default_choice": default,
        "quality_from": "model_quality" if result.get("model_quality") else "timed pairs",
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from retrieval.progress import quiet_progress

    # The reranker warns once per call that pairs were cut to its window; the report gives the count once.
    truncation = logging.getLogger("rerank.cross_encoder")
    level = truncation.level
    truncation.setLevel(logging.ERROR)
    try:
        with quiet_progress(args.no_progress):  # the Hugging Face libraries' own bars too
            return _run(args, list(argv) if argv is not None else sys.argv[1:])
    finally:
        truncation.setLevel(level)


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    from sentence_transformers import CrossEncoder

    from benchmarks.collection import load_beir, sample_queries
    from benchmarks.environment import environment
    from rerank.cross_encoder import CrossEncoderReranker
    from rerank.pairs import encode_pairs
    from retrieval.encoder import document_text

    if args.candidates <= 0 or args.queries <= 0 or args.chunk <= 0:
        print("error: --candidates, --queries and --chunk must be positive", file=sys.stderr)
        return 2
    started = time.time()
    load_before = load_averages()
    env = environment(measure_peak=False)
    peaks = [peak_gflops(args.peak_size)]
    dataset = load_beir(args.dataset)
    if args.docs:
        dataset = replace(dataset, corpus=dataset.corpus[: args.docs])
    tmp = tempfile.TemporaryDirectory()
    if args.model:
        model_path, what = args.model, f"given {args.model}"
    else:
        model_path, what = default_cross_encoder(args.tokenizer, Path(tmp.name), dataset, args.cache_dir)
    model = CrossEncoder(str(model_path), device="cpu")
    config = model.model.config
    description = (
        f"{what} "
        f"({config.num_hidden_layers} layers, hidden {config.hidden_size}, {config.num_attention_heads} heads, "
        f"FFN {config.intermediate_size}, 1 logit, max length {model.max_seq_length})"
    )
    options = {"device": "cpu", "max_tokens": args.max_tokens, "workers": args.workers}
    rerankers = {"fp32": pairs_only(CrossEncoderReranker.load(str(model_path), precision="fp32", **options))}
    precisions = ["fp32"] + ([] if args.no_int8 else ["int8"]) + ([] if args.no_bf16 else ["bf16"])
    for precision in precisions[1:]:
        rerankers[precision] = pairs_only(CrossEncoderReranker.load(str(model_path), precision=precision, **options))
    backends = installed_backends(args.backends, ("torch", "packed", "onnx", "openvino"))
    for backend in backends:
        for precision in precisions:
            if (backend, precision) in NOT_OFFERED:
                continue
            rerankers[f"{backend} {precision}"] = pairs_only(
                CrossEncoderReranker.load(
                    str(model_path), backend=backend, precision=precision, device="cpu", max_tokens=args.max_tokens
                )
            )
    for budget in [int(b) for b in args.extra_budgets.split(",") if b]:
        rerankers[f"fp32 max_tokens={budget}"] = pairs_only(
            CrossEncoderReranker.load(str(model_path), **{**options, "max_tokens": budget})
        )

    test = sample_queries(dataset, None if args.all else args.queries, seed=args.seed)
    qids = sorted(test.queries)
    depths = [int(d) for d in args.latency_depths.split(",") if d]
    cands = bm25_candidates(dataset, qids, max([args.candidates, *depths]))
    for q in qids:
        cands[q] = cands[q][: max([args.candidates, *depths])]
    through = {q: cands[q][: args.candidates] for q in qids}
    flat_q = [test.queries[q] for q in qids for _ in through[q]]
    flat_p = [document_text(h) for q in qids for h in through[q]]
    enc = encode_pairs(model.tokenizer, flat_q, flat_p, rerankers["fp32"].max_length)
    dense, attention = dense_flops(config, float(enc.lengths.sum())), attention_flops(config, enc.lengths)

    loads = {"start": load_before}
    raw = time_throughput(
        model, rerankers, qids, test.queries, through, args.chunk, args.peak_size, show_progress=not args.no_progress
    )
    loads["after throughput"] = load_averages()
    peaks += raw["peaks"]
    latency_qids = qids[: args.latency_queries]
    main_methods = {k: v for k, v in rerankers.items() if k in ("fp32", "int8", "bf16")}
    latency = time_latency(model, main_methods, latency_qids, test.queries, cands, depths)
    loads["after latency"] = load_averages()
    peaks.append(peak_gflops(args.peak_size))
    peak = max(peaks)
    pairs = len(flat_q)
    methods = method_table(raw, qids, pairs, dense, attention, peak, executed_dense_share(config))
    result = {
        "command": "python -m benchmarks.perf_rerank " + " ".join(argv),
        "model": {"description": description, "path": str(args.model) if args.model else None},
        "stage1": f"BM25 (bm25s) top {args.candidates} over SciFact ({len(dataset.corpus)} documents, title + text)",
        "candidates": args.candidates,
        "max_length": rerankers["fp32"].max_length,
        "chunk": args.chunk,
        "reranker": json.dumps({k: v for k, v in rerankers["fp32"].info().items() if k != "name"}),
        "environment": env,
        "load_before": load_before,
        "load_after": load_averages(),
        "loads": loads,
        "executed_dense_share": executed_dense_share(config),
        "peaks": peaks,
        "peak_size": args.peak_size,
        "throughput": {
            "queries": len(qids),
            "pairs": pairs,
            "mean_tokens": float(enc.lengths.mean()),
            "truncated": enc.truncated,
            "flops_dense_per_pair": dense / pairs,
            "flops_attention_per_pair": attention / pairs,
            "methods": methods,
        },
        "latency": latency,
        "latency_queries": len(latency_qids),
        "quality": int8_quality({k: v for k, v in raw["scores"].items()}, through, dataset.qrels),
        "seconds": round(time.time() - started, 1),
    }
    if args.quality_model:
        result["model_quality"] = trained_model_quality(
            args.quality_model, dataset, args.quality_queries, args.quality_depth or args.candidates, args.seed,
            backends=backends, precisions=precisions[1:], show_progress=not args.no_progress,
        )
    result["ratios"] = _ratios(result)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=2))
    (args.out / "ratios.json").write_text(json.dumps(result["ratios"], indent=2))
    (args.out / "report.md").write_text(rerank_report(result))
    print(rerank_report(result))
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
