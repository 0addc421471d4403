"""Stage 2 of the pretrained recipe retrained with another head, on the main job's cached stage 1.

Usage: python docs/experiments/stage2_head.py --seed 0 --head mean [--out /tmp/stage2-head]

Finds the main job's models for the seed (`python -m benchmarks.run scifact --seed N` must have run),
rebuilds the recipe's stage-2 rows from its fine-tuned stage 1 (same held-out queries, same
negatives), trains a cross-encoder with `CrossEncoderConfig.head` set, and prints the held-out
queries' nDCG@10 over the stage-1 weight grid beside the cached reranker's. Only training queries are
used: the test split is never read.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--head", default="mean")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: the recipe's)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--cached-head", default="cls", help="the head of the recipe whose cached stage 1 is used")
    parser.add_argument("--data-dir", default="../shared/datasets")
    parser.add_argument("--cache-dir", default=".cache/benchmarks")
    parser.add_argument("--out", default="/tmp/stage2-head")
    args = parser.parse_args()

    from benchmarks.datasets import load_dataset
    from benchmarks.perf.models import MINILM
    from indexes import read_corpus
    from rerank.train.data import hold_out_queries
    from rerank.train.pretrained_recipe import cached_pretrained_models, steps
    from rerank.train.pretrained_recipe.budget import DEFAULT
    from retrieval.indexing import build_index

    data = load_dataset("scifact", data_dir=args.data_dir)
    made = cached_pretrained_models(
        MINILM, data.corpus, data.train_queries, data.train_qrels, Path(args.cache_dir) / "pretrained" / "scifact", args.seed,
        replace(DEFAULT, cross_encoder=replace(DEFAULT.cross_encoder, head=args.cached_head)),
    )
    if made is None:
        raise SystemExit(f"no cached main-job models for seed {args.seed}: run python -m benchmarks.run scifact --seed {args.seed}")
    changes = {"head": args.head}
    if args.lr is not None:
        changes["learning_rate"] = args.lr
    if args.epochs is not None:
        changes["epochs"] = args.epochs
    budget = replace(DEFAULT, cross_encoder=replace(DEFAULT.cross_encoder, **changes))
    folder = Path(args.out) / (f"seed{args.seed}-" + "-".join(f"{k}{v}" for k, v in changes.items()))
    folder.mkdir(parents=True, exist_ok=True)
    run = steps.PretrainedRun(
        folder, read_corpus(data.corpus), budget, args.seed, MINILM, made.base_path, data.train_queries, data.train_qrels,
        False, lambda docs, encoder: build_index(docs, encoder, show_progress=False),
    )
    run.held = hold_out_queries(run.qrels, budget.cross_encoder.validation_fraction, args.seed)
    run.stage1_path = made.encoder_path
    started = time.perf_counter()
    steps.stage2_data(run)
    steps.train_stage2(run)
    cached = json.loads((made.reranker_path / "calibration.json").read_text())
    result = {
        "seed": args.seed,
        "changes": changes,
        "seconds": time.perf_counter() - started,
        "validation_ap": run.stage2.calibration["validation"]["ap"],
        "cached_validation_ap": cached["validation"]["ap"],
        "weight": run.stage2.calibration["stage1_weight"],
        "cached_weight": cached["stage1_weight"],
        "grid": run.stage2.calibration["fusion"]["grid"],
        "cached_grid": cached["fusion"]["grid"],
        "reranker": str(run.stage2.path),
    }
    print(json.dumps(result, indent=1))
    (folder / "result.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
