"""Which stage-1 weight rule generalises: cross-validation over the recipe's held-out training queries.

Usage: python docs/experiments/weight_rule_cv.py --seed 0 --reranker cls=<folder> --reranker mean=<folder>

For the main job's cached stage 1 of the seed, rebuilds the held-out queries' top-20 lists (as the
recipe does), scores them with each reranker, then repeats: split the held-out queries into 5 folds,
choose the weight on 4 with each rule (`rerank.train.stage1_weight.choose_stage1_weight`), and score
the fifth at that weight (nDCG@10, ranx). Prints each reranker x rule's mean over folds and repeats,
and stage 1 alone. Training queries only: the test split is never read.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np


def _fused_ndcg(evidence, qids, weight, mean, std) -> float:
    from ranx import Qrels, Run, evaluate

    run, qrels = {}, {}
    for q in qids:
        logits = np.asarray(evidence.logits[q], dtype=np.float64).reshape(len(evidence.relevant[q]), -1)[:, -1]
        z = (np.asarray(evidence.stage1_scores[q], dtype=np.float64) - mean) / std
        fused = (logits if weight != np.inf else 0 * logits) + (z if weight == np.inf else weight * z)
        fused = fused - np.arange(len(fused)) * 1e-9
        run[q] = {str(i): float(s) for i, s in enumerate(fused)}
        qrels[q] = {str(i): 1 for i, r in enumerate(evidence.relevant[q]) if r}
    return float(evaluate(Qrels(qrels), Run(run), "ndcg@10"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reranker", action="append", required=True, help="name=folder")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--cached-head", default="cls", help="the head of the recipe whose cached stage 1 is used")
    parser.add_argument("--data-dir", default="../shared/datasets")
    parser.add_argument("--cache-dir", default=".cache/benchmarks")
    args = parser.parse_args()

    from sentence_transformers import CrossEncoder

    from benchmarks.datasets import load_dataset
    from benchmarks.perf.models import MINILM
    from indexes import read_corpus
    from rerank.train.data import hold_out_queries
    from rerank.train.fusion import list_evidence
    from rerank.train.pretrained_recipe import cached_pretrained_models, steps
    from rerank.train.pretrained_recipe.budget import DEFAULT
    from rerank.train.stage1_weight import RULES, choose_stage1_weight
    from retrieval.indexing import build_index

    data = load_dataset("scifact", data_dir=args.data_dir)
    made = cached_pretrained_models(
        MINILM, data.corpus, data.train_queries, data.train_qrels, Path(args.cache_dir) / "pretrained" / "scifact", args.seed,
        replace(DEFAULT, cross_encoder=replace(DEFAULT.cross_encoder, head=args.cached_head)),
    )
    if made is None:
        raise SystemExit(f"no cached main-job models for seed {args.seed}")
    run = steps.PretrainedRun(
        Path("/tmp/weight-rule-cv"), read_corpus(data.corpus), DEFAULT, args.seed, MINILM, made.base_path,
        data.train_queries, data.train_qrels, False, lambda docs, encoder: build_index(docs, encoder, show_progress=False),
    )
    run.held = hold_out_queries(run.qrels, DEFAULT.cross_encoder.validation_fraction, args.seed)
    run.stage1_path = made.encoder_path
    steps.stage2_data(run)
    lists = run.data.validation_lists
    rng = np.random.default_rng(args.seed)
    results = {}
    for spec in args.reranker:
        name, folder = spec.split("=", 1)
        evidence = list_evidence(CrossEncoder(folder, device="cpu"), lists)
        qids = np.array(sorted(q for q in evidence.logits if any(evidence.relevant[q])))
        scores = {rule: [] for rule in RULES}
        stage1 = []
        for _ in range(args.repeats):
            folds = np.array_split(rng.permutation(qids), 5)
            for k, test in enumerate(folds):
                train = np.concatenate([f for j, f in enumerate(folds) if j != k])
                for rule in RULES:
                    chosen = choose_stage1_weight(
                        {q: evidence.logits[q] for q in train}, {q: evidence.stage1_scores[q] for q in train},
                        {q: evidence.relevant[q] for q in train}, rule=rule,
                    )
                    scores[rule].append(_fused_ndcg(evidence, test, chosen.weight, chosen.mean, chosen.std))
                stage1.append(_fused_ndcg(evidence, test, np.inf, 0.0, 1.0))
        results[name] = {rule: float(np.mean(v)) for rule, v in scores.items()} | {
            "stage1_alone": float(np.mean(stage1)), "queries": len(qids), "folds": len(stage1),
        }
        print(name, json.dumps(results[name]), flush=True)
    Path(f"/tmp/weight-rule-cv-seed{args.seed}.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
