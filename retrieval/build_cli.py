"""`python -m indexes.build`: embed a corpus and save an index directory."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m indexes.build",
        description="Embed a corpus with a sentence-transformers model and save a FAISS index directory.",
    )
    parser.add_argument("--corpus", required=True, help="BEIR folder, corpus.jsonl or corpus.parquet")
    parser.add_argument("--encoder", required=True, help="sentence-transformers model: hub name or local path")
    parser.add_argument("--out", required=True, help="index directory to write (replaced atomically)")
    parser.add_argument("--factory", default="Flat", help="FAISS factory string (Flat, HNSW32, IVF1024,PQ32, ...)")
    parser.add_argument("--metric", choices=["cosine", "ip", "l2"], default=None, help="default: the encoder's")
    parser.add_argument("--query-prompt", default=None, help="text prepended to queries")
    parser.add_argument("--document-prompt", default=None, help="text prepended to documents")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--cpu", action="store_true", help="never use a GPU, even when FAISS sees one")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from retrieval.cli_errors import USER_ERRORS, report
    from retrieval.encoder import Encoder
    from retrieval.indexing import build_index

    try:
        encoder = Encoder.load(
            args.encoder,
            query_prompt=args.query_prompt,
            document_prompt=args.document_prompt,
            batch_size=args.batch_size,
            device="cpu" if args.cpu else None,
        )
        index = build_index(args.corpus, encoder, args.factory, args.metric, use_gpu=False if args.cpu else None)
        path = index.save(args.out)
    except (*USER_ERRORS, ValueError) as exc:
        return report(exc)
    print(f"indexed {len(index)} documents ({index.manifest.factory}, {index.manifest.metric}) into {path}")
    return 0
