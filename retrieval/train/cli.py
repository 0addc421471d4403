"""`python -m retrieval.train`: train a stage-1 bi-encoder on a BEIR folder or a corpus file.

    python -m retrieval.train --data ../shared/datasets/scifact --out models/scifact-static
    python -m retrieval.train --data corpus_dir --no-labels --architecture transformer --out models/tiny
    python -m retrieval.train --data corpus_dir --model sentence-transformers/all-MiniLM-L6-v2 --out models/ft

Test queries are never read: labels come from the ``--split`` (default ``train``) only.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from retrieval.train.config import BiEncoderConfig

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m retrieval.train",
        description="Train a stage-1 bi-encoder: fine-tune any sentence-transformers model, or train one from scratch.",
    )
    p.add_argument("--data", required=True, help="a BEIR folder (corpus.jsonl, queries.jsonl, qrels/) or a corpus file")
    p.add_argument("--out", required=True, help="the model folder to write")
    p.add_argument("--split", default="train", help="the labelled split to train on (default train; never test)")
    p.add_argument("--no-labels", action="store_true", help="train on the corpus alone, even where qrels exist")
    p.add_argument("--config", help="a JSON file of BiEncoderConfig fields; flags below override it")
    p.add_argument("--model", help="a sentence-transformers model to fine-tune (default: from scratch)")
    p.add_argument("--architecture", choices=["static", "transformer"])
    p.add_argument("--tokenizer", help="tokenizer folder for from-scratch models, or 'corpus' to train one")
    p.add_argument(
        "--keep-inflections", action="store_true",
        help="corpus tokenizer: keep inflected words as their own tokens (default: base word + suffix piece)",
    )
    p.add_argument("--dim", type=int)
    p.add_argument(
        "--static-init", choices=["idf", "random"], help="StaticEmbedding start: IDF-scaled (default) or plain random"
    )
    p.add_argument("--epochs", type=int)
    p.add_argument("--mining-rounds", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--margin", type=float)
    p.add_argument("--members", type=int, help="static: train this many seeds and join them into one model")
    p.add_argument(
        "--vocab-sizes", type=lambda v: tuple(int(n) for n in v.split(",") if n),
        help="static: also train the members over corpus tokenizers of these sizes (e.g. 32000,8000) and save an encoder ensemble",
    )
    p.add_argument("--seed", type=int)
    p.add_argument(
        "--bf16", action="store_true", help="train with bfloat16 autocast (GPUs, CPUs with AMX; weights stay fp32)"
    )
    p.add_argument(
        "--no-progress", "--quiet", action="store_true", dest="quiet", help="no progress bars (the libraries' own included)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from retrieval.cli_errors import USER_ERRORS, report
    from retrieval.train.bi_encoder import train_bi_encoder
    from retrieval.train.data import read_train_split

    overrides = {
        k: v
        for k, v in {
            "model": args.model, "architecture": args.architecture, "tokenizer": args.tokenizer, "dim": args.dim,
            "static_init": args.static_init, "epochs": args.epochs, "mining_rounds": args.mining_rounds,
            "batch_size": args.batch_size,
            "learning_rate": args.learning_rate, "margin": args.margin, "members": args.members, "seed": args.seed,
            "vocab_sizes": args.vocab_sizes,
        }.items()
        if v is not None
    }
    if args.no_labels:
        overrides["use_labels"] = False
    if args.bf16:
        overrides["bf16"] = True
    if args.keep_inflections:
        overrides["merge_inflections"] = False
    try:  # the configuration and the labelled split: any ValueError here is about the input
        config = BiEncoderConfig.load(args.config) if args.config else BiEncoderConfig()
        config = config.replace(**overrides)
        queries = qrels = None
        if Path(args.data).is_dir() and config.use_labels:
            queries, qrels = read_train_split(args.data, args.split)
    except (*USER_ERRORS, ValueError) as exc:
        return report(exc)
    try:
        result = train_bi_encoder(args.data, args.out, config, queries, qrels, show_progress=not args.quiet)
    except USER_ERRORS as exc:
        return report(exc)
    print(json.dumps({"path": str(result.path), "seconds": round(result.seconds, 1), "pairs": result.pairs}))
    return 0
