"""`python -m rerank.train`: train a stage-2 cross-encoder on a stage-1 model's candidates.

    python -m rerank.train --data ../shared/datasets/scifact --encoder models/st --out models/ce \
        --tokenizer ../shared/tokenizers/bert-uncased-wordpiece
    python -m rerank.train --data corpus_dir --encoder models/st --no-labels --out models/ce ...
    python -m rerank.train --data ... --encoder models/st --architecture kernel --init-embeddings models/st \
        --tokenizer models/st-tokenizer --fuse-stage1 --out models/knrm

The stage-1 model supplies the candidates; the test split is never read.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rerank.train.config import CrossEncoderConfig

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rerank.train",
        description=(
            "Train a stage-2 cross-encoder on (query, passage, label) rows whose negatives are stage-1 candidates."
        ),
    )
    p.add_argument("--data", required=True, help="a BEIR folder (corpus.jsonl, queries.jsonl, qrels/) or a corpus file")
    p.add_argument("--encoder", required=True, help="the stage-1 sentence-transformers model that supplies candidates")
    p.add_argument("--out", required=True, help="the cross-encoder folder to write")
    p.add_argument("--split", default="train", help="the labelled split (default train; never test)")
    p.add_argument("--no-labels", action="store_true", help="pseudo-queries from the corpus, even where qrels exist")
    p.add_argument("--config", help="a JSON file of CrossEncoderConfig fields; flags below override it")
    p.add_argument("--model", help="a cross-encoder or Hugging Face model to fine-tune (default: from scratch)")
    p.add_argument("--architecture", choices=["bert", "kernel"], help="from scratch: a BERT classifier or K-NRM")
    p.add_argument("--tokenizer", help="from scratch: the tokenizer folder")
    p.add_argument("--init-embeddings", help="from scratch: a StaticEmbedding model (same tokenizer) to copy vectors from")
    p.add_argument("--num-labels", type=int, choices=[1, 2])
    p.add_argument("--head", choices=["cls", "mean"],
                   help="fine-tuning --model: its classification head (cls, default) or the mean of the pair's tokens")
    p.add_argument("--weight-rule", choices=["best", "one-se"], dest="weight_rule",
                   help="with --fuse-stage1: how the stage-1 weight is picked on held-out queries")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--embedding-learning-rate", type=float, help="the token vectors' own rate (with train_embeddings)")
    p.add_argument("--max-length", type=int)
    p.add_argument("--negatives", type=int, dest="negatives_per_query")
    p.add_argument("--depth", type=int)
    p.add_argument("--negative-depth", type=int, dest="negative_depth", help="draw negatives from this many top candidates")
    p.add_argument("--fuse-stage1", action="store_true", dest="fuse_stage1",
                   help="choose a stage-1 score weight on the validation queries (they should be unseen by --encoder)")
    p.add_argument("--fuse-sentences", action="store_true", dest="fuse_sentences",
                   help="with --fuse-stage1, also weigh --encoder's best similarity to any one sentence of a candidate")
    p.add_argument("--stage1-offset", type=float, dest="stage1_offset",
                   help="train as a residual of stage 1 (rerank.train.residual); --encoder should not have trained on the labelled queries")
    p.add_argument("--beta", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument(
        "--no-progress", "--quiet", action="store_true", dest="quiet", help="no progress bars (the libraries' own included)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from indexes import read_corpus
    from rerank.train.examples import stage2_examples
    from rerank.train.trainer import train_cross_encoder
    from retrieval.cli_errors import USER_ERRORS, report
    from retrieval.encoder import BULK_ENCODING, Encoder, document_text
    from retrieval.indexing import build_index
    from retrieval.progress import quiet_progress
    from retrieval.train.data import read_train_split

    names = ("model", "architecture", "tokenizer", "init_embeddings", "num_labels", "head", "weight_rule", "epochs", "batch_size",
             "learning_rate", "embedding_learning_rate", "max_length", "negatives_per_query", "depth", "negative_depth",
             "stage1_offset", "beta", "seed")
    try:  # the configuration and the data: any ValueError here is about the input
        config = CrossEncoderConfig.load(args.config) if args.config else CrossEncoderConfig()
        config = config.replace(**{n: getattr(args, n) for n in names if getattr(args, n) is not None})
        if args.fuse_stage1:
            config = config.replace(fuse_stage1=True)
        if args.fuse_sentences:
            config = config.replace(fuse_sentences=True)
        queries = qrels = None
        if Path(args.data).is_dir() and not args.no_labels:
            queries, qrels = read_train_split(args.data, args.split)
        docs = read_corpus(args.data)
    except (*USER_ERRORS, ValueError) as exc:
        return report(exc)
    try:
        with quiet_progress(args.quiet):
            encoder = Encoder.load(args.encoder, device="cpu", batch_size=128, **BULK_ENCODING)
            index = build_index(docs, encoder, show_progress=not args.quiet)
            data = stage2_examples(docs, encoder, index, config, queries, qrels)
            result = train_cross_encoder(
                data.train, data.validation, args.out, config, show_progress=not args.quiet,
                validation_lists=data.validation_lists, corpus_texts=[document_text(d) for d in docs],
                sentence_encoder=encoder, titles={d.doc_id: d.title for d in docs},
            )
    except USER_ERRORS as exc:
        return report(exc)
    print(json.dumps({"path": str(result.path), "seconds": round(result.seconds, 1), "calibration": result.calibration}))
    return 0
