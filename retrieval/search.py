"""`python -m retrieval.search`: query a saved index from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from retrieval.encoder import BACKENDS

__all__ = ["main"]


def _min_score(value: str) -> float | str:
    if value == "calibrated":
        return value
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'calibrated', got {value!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m retrieval.search", description="Search a saved index.")
    parser.add_argument("query", help="the query text")
    parser.add_argument("--index", required=True, help="index directory (from python -m indexes.build)")
    parser.add_argument("-k", type=int, default=10, help="hits to return (default 10)")
    parser.add_argument("--encoder", default=None, help="query encoder; default: the one in the manifest")
    parser.add_argument("--reranker", default=None, help="cross-encoder (hub name or local path) for stage 2")
    parser.add_argument(
        "--candidates", type=int, default=None, help="stage-1 depth to rerank, at least -k (with --reranker; default 100)"
    )
    parser.add_argument(
        "--min-score",
        type=_min_score,
        default=None,
        help="drop hits below this final score: a probability with --reranker (or 'calibrated' for the model's "
        "calibration.json threshold), the stage-1 similarity without; fewer than k hits, or none, may come back",
    )
    parser.add_argument(
        "--backend", choices=BACKENDS, default="auto",
        help="where the query encoder runs: auto (single queries on ONNX Runtime where installed), torch, packed "
        "(the padding-free BERT forward, CPU), onnx, openvino",
    )
    parser.add_argument(
        "--reranker-backend", choices=BACKENDS, default=None,
        help="where the reranker runs (default auto: the packed forward for BERT cross-encoders on CPU, else torch)",
    )
    parser.add_argument("--int8", action="store_true", help="run the reranker with int8 dynamic quantisation (CPU)")
    parser.add_argument(
        "--precision", choices=("auto", "fp32", "int8", "bf16"), default=None,
        help="the reranker's precision (default auto: bf16 on CPUs with AMX, else fp32; int8: as --int8)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list of hits")
    parser.add_argument(
        "--ray", nargs="?", const=True, default=None, metavar="ADDRESS",
        help="serve a sharded index's shards from Ray actors: the cluster at ADDRESS, or a local one",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from retrieval.cli_errors import USER_ERRORS, report
    from retrieval.texts import check_texts

    if (args.int8 or args.precision or args.reranker_backend) and not args.reranker:
        return report(ValueError("--int8, --precision and --reranker-backend apply to the reranker; pass --reranker too"))
    if args.candidates is not None and not args.reranker:
        return report(ValueError("--candidates is the depth the reranker rescores; pass --reranker too, or drop it"))
    try:
        check_texts([args.query], "query")
    except ValueError as exc:  # before any model loads
        return report(exc)
    from retrieval.searcher import Searcher

    try:
        reranker = None
        if args.reranker:
            from retrieval.plugins import load_reranker

            options = {"int8": True} if args.int8 else {}
            options |= {"precision": args.precision} if args.precision else {}
            reranker = load_reranker(args.reranker, runtime=args.reranker_backend, **options)
        index, encoder = args.index, args.encoder
        if args.ray:
            from retrieval.indexing import load_index

            index, encoder = load_index(args.index, args.encoder, ray=args.ray, backend=args.backend)
        searcher = Searcher(index, encoder=encoder, reranker=reranker, backend=args.backend)
        hits = searcher.query(args.query, k=args.k, candidates=args.candidates, min_score=args.min_score)
    except (*USER_ERRORS, ValueError, TypeError) as exc:
        return report(exc)
    if args.json:
        print(json.dumps([h.to_dict() for h in hits], ensure_ascii=False))
        return 0
    if not hits and args.min_score is not None:
        print(f"no good answer: no hit scored at least --min-score {args.min_score}")
    for hit in hits:
        stage = f"  (stage 1: #{hit.stage1_rank}, {hit.stage1_score:.4f})" if args.reranker else ""
        title = f"{hit.title} | " if hit.title else ""
        print(f"{hit.rank:>3}  {hit.score:.4f}  {hit.doc_id}{stage}  {title}{hit.text[:100]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
