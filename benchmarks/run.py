"""``python -m benchmarks.run <dataset>``: score each stage alone and combined, write a results folder.

Examples:
    python -m benchmarks.run scifact --data-dir ../shared/datasets
    python -m benchmarks.run scifact --data-dir ../shared/datasets --stages bm25
    python -m benchmarks.run msmarco --data-dir ../shared/datasets --encoder my/encoder --reranker my/reranker
    python -m benchmarks.run path/to/beir-folder --split dev --depths 10,50
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from retrieval.encoder import BACKENDS

__all__ = ["build_parser", "main"]


def _csv(kind: type) -> object:
    def parse(text: str) -> tuple:
        try:
            return tuple(kind(part.strip()) for part in text.split(",") if part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {kind.__name__}, got {text!r}") from None

    return parse


def build_parser() -> argparse.ArgumentParser:
    from benchmarks.config import DEFAULT_DATA_DIR, STAGES

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Score BM25, the dense retriever alone, dense + cross-encoder reranking and hybrid fusion "
        "on one test collection with ranx; sweep the rerank depth; write a results folder (config, environment, "
        "TREC runs, metrics.json, report.md, plots).",
    )
    parser.add_argument(
        "dataset",
        help="scifact, msmarco, msmarco-dl19-mini, a folder name under --data-dir, or the path of any BEIR folder "
        "(corpus.jsonl, queries.jsonl, qrels/<split>.tsv)",
    )
    parser.add_argument(
        "--data-dir",
        help=f"folder holding local datasets (<data-dir>/scifact/, <data-dir>/msmarco-passage/...); default "
        f"$TWOSTAGE_DATA_DIR or ./data (now: {DEFAULT_DATA_DIR})",
    )
    parser.add_argument("--out", help="the run's results folder (default results/<dataset>-<timestamp>)")
    parser.add_argument("--config", help="a TOML file of config keys, applied over the dataset's own config")
    parser.add_argument("--split", help="qrels split to score (default test)")
    parser.add_argument(
        "--stages", type=_csv(str), help=f"comma-separated stages among {','.join(STAGES)} (default: all)"
    )
    parser.add_argument("--encoder", help="stage-1 model: hub name or local path (default: hub model, else from scratch)")
    parser.add_argument("--reranker", help="stage-2 cross-encoder: hub name or local path")
    parser.add_argument(
        "--scratch-budget", choices=("default", "fast"), help="from-scratch training budget when no model is available"
    )
    parser.add_argument("--cache-dir", help="where from-scratch models are cached (default .cache/benchmarks)")
    parser.add_argument("--candidates", type=int, help="rerank depth of the dense+rerank stage (default 100)")
    parser.add_argument("--depths", type=_csv(int), help="candidate depths of the sweep (default 10,20,50,100)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the depth sweep")
    parser.add_argument("--latency-queries", type=int, help="queries timed one at a time per depth (default 16)")
    parser.add_argument("--max-queries", type=int, help="score a seeded sample of this many queries")
    parser.add_argument("--pool-size", type=int, help="msmarco subset mode: sampled distractor passages (default 100000)")
    parser.add_argument("--relevance-level", type=int, help="lowest grade MRR/recall count relevant (default: dataset's)")
    parser.add_argument("--fusion", help="ranx fusion method of the hybrid stage (default rrf)")
    parser.add_argument("--batch-size", type=int, help="encoder batch size")
    parser.add_argument("--device", help="torch device for the models (default: best available)")
    parser.add_argument("--threads", type=int, help="torch threads")
    parser.add_argument(
        "--reranker-precision", choices=("auto", "fp32", "int8", "bf16"),
        help="the cross-encoder's precision (default auto: bf16 on CPUs with AMX, else fp32; fp32 for scores "
        "equal to the model's own forward; docs/speed.md)",
    )
    parser.add_argument(
        "--reranker-backend", choices=BACKENDS,
        help="where the cross-encoder runs (default auto: the packed forward for BERT cross-encoders on CPU, "
        "else torch)",
    )
    parser.add_argument(
        "--backend", choices=BACKENDS,
        help="where the query encoder runs: auto (single queries on ONNX Runtime where installed), torch, packed "
        "(the padding-free BERT forward, CPU), onnx, openvino",
    )
    parser.add_argument("--seed", type=int, help="seed of every sample and of training")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config as TOML and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 on success, 2 on a usage or missing-data error (with the reason on stderr)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from benchmarks.config import load_config, to_toml

    overrides = {
        "data_dir": args.data_dir,
        "out": args.out,
        "split": args.split,
        "stages": args.stages,
        "encoder": args.encoder,
        "reranker": args.reranker,
        "scratch_budget": args.scratch_budget,
        "cache_dir": args.cache_dir,
        "candidates": args.candidates,
        "depths": args.depths,
        "sweep": False if args.no_sweep else None,
        "latency_queries": args.latency_queries,
        "max_queries": args.max_queries,
        "pool_size": args.pool_size,
        "relevance_level": args.relevance_level,
        "fusion": args.fusion,
        "batch_size": args.batch_size,
        "device": args.device,
        "backend": args.backend,
        "reranker_precision": args.reranker_precision,
        "reranker_backend": args.reranker_backend,
        "threads": args.threads,
        "seed": args.seed,
    }
    try:
        config = load_config(args.dataset, args.config, **overrides)
    except (ValueError, FileNotFoundError) as exc:
        parser.error(str(exc))
    if args.print_config:
        print(to_toml(config.to_dict()), end="")
        return 0

    from benchmarks.datasets import DatasetNotFoundError
    from benchmarks.harness import run_benchmark
    from benchmarks.models import MissingModelError
    from benchmarks.report import stage_table
    from retrieval.cli_errors import USER_ERRORS, report
    from retrieval.progress import quiet_progress

    try:
        with quiet_progress(args.no_progress):  # the Hugging Face libraries' own bars too
            result = run_benchmark(config, show_progress=not args.no_progress)
    except (DatasetNotFoundError, MissingModelError, *USER_ERRORS) as exc:
        return report(exc)
    print(stage_table(result.metrics))
    for ref in result.metrics["references"]:
        print(f"{ref['stage']} {ref['metric']} {ref['value']:.4f} vs published {ref['low']}-{ref['high']}: {ref['status']}")
    print(f"results: {result.out_dir} ({result.metrics['timings_s']['total']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
