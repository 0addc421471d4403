"""The pretrained recipe retrained with another stage-1 budget (epochs, bf16), judged on held-out training queries.

Usage: python docs/experiments/stage1_budget.py --seed 0 --epochs 3 --bf16 [--baseline-cache .cache/benchmarks]
       [--out /tmp/stage1-budget]

Trains the whole recipe (stage 1, its candidates, stage 2) with the changed stage-1 settings into its
own cache folder under --out, finds the main job's models for the same seed in --baseline-cache
(`python -m benchmarks.run scifact --seed N` must have run there), and prints, from each
cross-encoder's `calibration.json`, the held-out training queries' nDCG@10 over the stage-1 weight
grid: weight 0 is the cross-encoder alone, the largest weight is stage 1's own order of its top 20,
the chosen weight is the Searcher. The held-out queries are the same for both (chosen by the seed)
and never trained on by either stage 1. The test split is never read.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path


def _summary(calibration: dict) -> dict:
    grid = {float(w): v for w, v in calibration["fusion"]["grid"].items()}
    return {
        "stage1_top20": grid[max(grid)],
        "cross_encoder_alone": grid[0.0],
        "chosen": grid[min(grid, key=lambda w: abs(w - calibration["stage1_weight"]))],
        "weight": calibration["stage1_weight"],
        "validation_ap": calibration["validation"]["ap"],
        "queries": calibration["fusion"]["queries"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--data-dir", default="../shared/datasets")
    parser.add_argument("--baseline-cache", default=".cache/benchmarks")
    parser.add_argument("--out", default="/tmp/stage1-budget")
    args = parser.parse_args()

    from benchmarks.datasets import load_dataset
    from benchmarks.perf.models import MINILM
    from rerank.train.pretrained_recipe import cached_pretrained_models, pretrained_models
    from rerank.train.pretrained_recipe.budget import DEFAULT

    data = load_dataset("scifact", data_dir=args.data_dir)
    inputs = (MINILM, data.corpus, data.train_queries, data.train_qrels)
    baseline = cached_pretrained_models(*inputs, Path(args.baseline_cache) / "pretrained" / "scifact", args.seed, DEFAULT)
    if baseline is None:
        raise SystemExit(f"no cached main-job models for seed {args.seed} in {args.baseline_cache}")
    budget = replace(DEFAULT, bi_encoder=replace(DEFAULT.bi_encoder, epochs=args.epochs, bf16=args.bf16))
    started = time.perf_counter()
    variant = pretrained_models(*inputs, Path(args.out) / "pretrained" / "scifact", args.seed, budget, show_progress=False)
    result = {
        "seed": args.seed,
        "changes": {"epochs": args.epochs, "bf16": args.bf16},
        "seconds": time.perf_counter() - started,
        "train_seconds": variant.train_seconds,
        "variant": _summary(json.loads((variant.reranker_path / "calibration.json").read_text())),
        "baseline": _summary(json.loads((baseline.reranker_path / "calibration.json").read_text())),
        "baseline_train_seconds": baseline.train_seconds,
        "encoder": str(variant.encoder_path),
        "reranker": str(variant.reranker_path),
    }
    print(json.dumps(result, indent=1))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / f"seed{args.seed}-epochs{args.epochs}-bf16{int(args.bf16)}.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
