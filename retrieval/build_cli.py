"""`python -m indexes.build`: embed a corpus and save an index directory."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from retrieval.encoder import BACKENDS, PRECISIONS

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
    parser.add_argument(
        "--precision", choices=PRECISIONS, default="fp32",
        help="bf16: about 3x faster on CPUs with AMX; int8: the packed forward's linear layers in int8 (slower "
        "than bf16 there, for CPUs without bf16 units); queries are then encoded in the same precision",
    )
    parser.add_argument(
        "--backend", choices=BACKENDS, default="auto",
        help="where the encoder runs (default auto: the corpus on torch); packed: the padding-free BERT forward "
        "(CPU; 1.1x torch in fp32, 3.65x torch fp32 with --precision bf16 on AMX CPUs, docs/speed.md)",
    )
    parser.add_argument("--cpu", action="store_true", help="never use a GPU, even when FAISS sees one")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (the libraries' own included)")
    shards = parser.add_argument_group("sharded index (docs/scale.md)")
    shards.add_argument("--shards", type=int, default=None, help="write N shard indexes and a shards.json")
    shards.add_argument(
        "--ray", nargs="?", const=True, default=None, metavar="ADDRESS",
        help="encode and build the shards on Ray: the cluster at ADDRESS, or a local one (needs --shards)",
    )
    shards.add_argument("--workers", type=int, default=1, help="encoder actors with --ray (default 1)")
    shards.add_argument("--gpus-per-worker", type=float, default=0, help="GPUs each encoder actor declares")
    shards.add_argument("--block-rows", type=int, default=10_000, help="documents per encoding block with --ray")
    shards.add_argument("--train-size", type=int, default=None, help="vectors the shared IVF/PQ quantizer trains on")
    return parser


def _build_sharded(args: argparse.Namespace, encoder: object) -> str:
    from retrieval.distributed import build_sharded

    options = {"train_size": args.train_size} if args.train_size is not None else {}
    if args.ray:
        options.update(workers=args.workers, num_gpus=args.gpus_per_worker, block_rows=args.block_rows)
    layout = build_sharded(
        args.corpus, encoder, args.out, args.shards, args.factory, args.metric, ray=args.ray,
        show_progress=not args.no_progress, **options
    )
    return f"indexed {layout.doc_count} documents in {len(layout.shards)} shards ({layout.factory}, {layout.metric}) into {args.out}"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from retrieval.cli_errors import USER_ERRORS, report
    from retrieval.encoder import Encoder
    from retrieval.indexing import build_index
    from retrieval.progress import quiet_progress

    if args.ray and args.shards is None:
        return report(ValueError("--ray builds a sharded index; pass --shards N too"))
    if args.shards is not None and args.shards < 1:
        return report(ValueError(f"--shards must be at least 1, got {args.shards}"))
    with quiet_progress(args.no_progress):
        try:
            encoder = Encoder.load(
                args.encoder,
                query_prompt=args.query_prompt,
                document_prompt=args.document_prompt,
                batch_size=args.batch_size,
                device="cpu" if args.cpu else None,
                precision=args.precision,
                backend=args.backend,
            )
            if args.shards is not None:
                print(_build_sharded(args, encoder))
                return 0
            index = build_index(
                args.corpus, encoder, args.factory, args.metric, use_gpu=False if args.cpu else None,
                show_progress=not args.no_progress,
            )
            path = index.save(args.out)
        except (*USER_ERRORS, ValueError) as exc:
            return report(exc)
    print(f"indexed {len(index)} documents ({index.manifest.factory}, {index.manifest.metric}) into {path}")
    return 0
