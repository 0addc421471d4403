"""Quality of the from-scratch recipe per training regime: nDCG@10 per stage, with training times.

Regimes: SciFact with its train split (labelled queries), SciFact corpus only (no labels),
msmarco-dl19-mini corpus only. Each trains both stages with `rerank.train.recipe.scratch_models`
(cached, so a rerun only evaluates), then scores BM25 (reference), stage 1 (dense top-100), stage 2
as the Searcher uses it (the cross-encoder over the dense top-100, with its calibrated stage-1
weight) and the cross-encoder alone (weight 0) with `benchmarks.metrics` at the dataset's relevance
level, on all test queries and, for SciFact, on the test queries none of whose relevant documents
is relevant to a train query.

    python -m benchmarks.quality_scratch                       # all regimes, default budget
    python -m benchmarks.quality_scratch --regimes scifact-labels --variant default

Writes results/quality_scratch/<regime>-<variant>.json, summary.md, and the reranker's
threshold history and loss plot (history.csv/json/png) per run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.paths import shared_dir

__all__ = ["REGIMES", "VARIANTS", "main", "run_regime", "unseen_subset"]

REGIMES = {
    "scifact-labels": ("scifact", True),
    "scifact-corpus": ("scifact", False),
    "dl19-corpus": ("msmarco-dl19-mini", False),
}


def _variants() -> dict[str, Any]:
    from rerank.train.recipe import DEFAULT

    ce = replace(DEFAULT.cross_encoder, stage1_offset=0.0)  # the variants below train on the text alone

    def stage2(name: str, config: Any) -> Any:  # one stage-2 recipe in both regimes
        return replace(DEFAULT, name=name, cross_encoder=config, corpus_cross_encoder=None)

    return {
        "default": DEFAULT,
        "trained-vectors": stage2("trained-vectors", replace(ce, train_embeddings=True)),
        "slow-vectors": stage2("slow-vectors", replace(ce, train_embeddings=True, embedding_learning_rate=1e-3)),
        # Stage 2 trained on the text alone (no stage-1 offset).
        "text-only": stage2("text-only", ce),
        "no-init": replace(DEFAULT, name="no-init", init_from_stage1=False),
        "keep-inflections": replace(DEFAULT, name="keep-inflections", merge_inflections=False),
        # The best-sentence score fused without labels too (the labelled recipe already fuses it).
        "corpus-sentences": replace(
            DEFAULT, name="corpus-sentences", corpus_cross_encoder=replace(DEFAULT.corpus_cross_encoder, fuse_sentences=True)
        ),
        # Corpus only, stage 1 as 5 seeds on the recipe's one tokenizer (no vocabulary ensemble).
        "one-vocabulary": replace(
            DEFAULT, name="one-vocabulary", corpus_bi_encoder=replace(DEFAULT.corpus_bi_encoder, members=5, vocab_sizes=())
        ),
        # Corpus only, stage 2 as one reranker (the recipe's tokenizer), 4 epochs (no reranker ensemble).
        "one-reranker": replace(
            DEFAULT, name="one-reranker", reranker_per_vocabulary=False,
            corpus_cross_encoder=replace(DEFAULT.corpus_cross_encoder, epochs=4),
        ),
    }


VARIANTS = (
    "default", "trained-vectors", "slow-vectors", "text-only", "no-init", "keep-inflections",
    "corpus-sentences", "one-vocabulary", "one-reranker",
)


def unseen_subset(test_qrels: dict[str, dict[str, int]], train_qrels: dict[str, dict[str, int]] | None) -> set[str]:
    """Test queries none of whose relevant documents is relevant to any train query."""
    seen = {d for rels in (train_qrels or {}).values() for d, r in rels.items() if r > 0}
    return {q for q, rels in test_qrels.items() if not any(r > 0 and d in seen for d, r in rels.items())}


def _metrics(qrels: dict, run: dict, relevance_level: int, qids: set[str] | None = None) -> dict[str, float]:
    """nDCG@10 and recall@100 over the judged queries (of `qids`, when given), rounded to 4 places."""
    from benchmarks.metrics import evaluate

    judged = {q: rels for q, rels in qrels.items() if qids is None or q in qids}
    scores = evaluate(judged, run, ["ndcg@10", "recall@100"], relevance_level)
    return {k: round(v, 4) for k, v in scores.items()}


def _rerank(
    reranker_path: Path, queries: dict[str, str], run: dict, docs: dict[str, Any], encoder: Any,
    show_progress: bool = True,
) -> tuple[dict, dict]:
    """The reranker's scores of each query's stage-1 list: as the Searcher uses them, and without stage-1 evidence.

    A reranker that fuses sentence scores gets them from `encoder` (stage 1), as the Searcher gives them.
    """
    from benchmarks.stages import in_order
    from rerank import CrossEncoderReranker
    from retrieval.sentences import SentenceScorer
    from retrieval.types import Hit

    reranker = CrossEncoderReranker.load(str(reranker_path), show_progress=show_progress)
    qids = list(run)
    lists = [
        [Hit(d, s, i, docs[d].title, docs[d].text, stage1_score=s, stage1_rank=i) for i, (d, s) in enumerate(run[q].items(), 1)]
        for q in qids
    ]
    texts = [queries[q] for q in qids]
    if reranker.sentence_weight:
        lists = SentenceScorer(encoder, cache_size=len(docs)).with_scores(texts, lists)
    fused = reranker.score(texts, lists)
    parts = getattr(reranker, "parts", [reranker])  # a reranker ensemble's parts each fuse their own
    weights = [w for p in parts for w in (p.stage1_weight, p.sentence_weight)]
    for p in parts:
        p.stage1_weight = p.sentence_weight = 0.0
    alone = reranker.score(texts, lists) if any(weights) else fused

    def as_run(scores: list) -> dict:
        return {q: in_order(sorted(zip(run[q], row.tolist()), key=lambda x: -x[1])) for q, row in zip(qids, scores)}

    return as_run(fused), as_run(alone)


def run_regime(
    regime: str, variant: str, out_dir: Path, cache_dir: Path, seed: int = 0, show_progress: bool = True
) -> dict[str, Any]:
    """Train (or reuse) both stages for one regime and score every stage."""
    from benchmarks.bm25 import BM25Retriever
    from benchmarks.datasets import load_beir, load_dataset
    from rerank.train.recipe import scratch_models
    from retrieval import Encoder, build_index
    from retrieval.encoder import BULK_ENCODING
    from retrieval.train import MAIN_PART

    name, with_labels = REGIMES[regime]
    data_dir = shared_dir() / "datasets"
    folder = data_dir / name
    ds = load_dataset(name, data_dir)  # with the dataset's relevance level, as the harness loads it
    train_split = load_beir(folder, split="train") if (folder / "qrels" / "train.tsv").exists() else None
    train_queries = dict(train_split.queries) if with_labels and train_split else None
    train_qrels = {q: dict(v) for q, v in train_split.qrels.items()} if with_labels and train_split else None
    budget = _variants()[variant]

    started = time.perf_counter()
    made = scratch_models(
        folder, ds.corpus, train_queries, train_qrels, cache_dir / regime, seed=seed, budget=budget,
        show_progress=show_progress,
    )
    wall = time.perf_counter() - started

    queries = dict(ds.queries)
    qrels = {q: dict(v) for q, v in ds.qrels.items()}
    t = time.perf_counter()
    bm25 = BM25Retriever(ds.corpus).search(queries, k=100)
    encoder = Encoder.load(str(made.encoder_path), device="cpu", batch_size=128, **BULK_ENCODING)
    index = build_index(ds.corpus, encoder, show_progress=False)
    ids = list(queries)
    found = index.search(encoder.encode_queries([queries[q] for q in ids]), 100)
    dense = {q: {d.doc_id: s for d, s in hits} for q, hits in zip(ids, found)}
    stage1_seconds = time.perf_counter() - t
    t = time.perf_counter()
    reranked, alone = _rerank(
        made.reranker_path, queries, dense, {d.doc_id: d for d in ds.corpus}, encoder, show_progress=show_progress
    )
    rerank_seconds = time.perf_counter() - t

    subsets: dict[str, set[str] | None] = {"all": None}
    if train_split is not None:
        subsets["unseen"] = unseen_subset(qrels, {q: dict(v) for q, v in train_split.qrels.items()})
    stages = {"bm25": bm25, "stage1_dense": dense, "stage2_rerank": reranked, "stage2_alone": alone}
    metrics = {
        subset: {"queries": len(set(qrels) if ids_ is None else ids_ & set(qrels)),
                 **{stage: _metrics(qrels, run, ds.relevance_level, ids_) for stage, run in stages.items()}}
        for subset, ids_ in subsets.items()
    }
    result = {
        "regime": regime,
        "variant": variant,
        "dataset": name,
        "labels": "train qrels" if with_labels and train_qrels else "none (corpus only)",
        "metrics": metrics,
        "train_seconds": made.train_seconds,
        "cached": made.recipe.get("cached"),
        "wall_seconds_this_call": round(wall, 1),
        "eval_seconds": {"bm25_and_stage1": round(stage1_seconds, 1), "rerank_top100": round(rerank_seconds, 1)},
        "calibration": json.loads((made.reranker_path / "calibration.json").read_text()),
        "recipe": made.recipe,
        "encoder_path": str(made.encoder_path),
        "reranker_path": str(made.reranker_path),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = f"{regime}-{variant}"
    (out_dir / f"{tag}.json").write_text(json.dumps(result, indent=2, default=str))
    for fname in ("history.csv", "history.json", "history.png", "calibration.json"):
        # A reranker ensemble keeps its calibration beside its parts and each part's history in the part;
        # the history copied is the part on the recipe's own tokenizer.
        source = made.reranker_path / fname
        if not source.exists():
            source = made.reranker_path / MAIN_PART / fname
        shutil.copy(source, out_dir / f"{tag}-{fname}")
    return result


def _summary(out_dir: Path) -> str:
    lines = [
        "| regime | variant | recipe | subset | queries | BM25 | stage 1 | stage 2 (Searcher) | stage 2 gain | cross-encoder alone | stage-1 train s | stage-2 train s | total train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in sorted(out_dir.glob("*.json")):
        if path.name.count("-history") or path.name.endswith("calibration.json"):
            continue
        r = json.loads(path.read_text())
        if "metrics" not in r:
            continue
        ts = r["train_seconds"]
        for subset, m in r["metrics"].items():
            lines.append(
                f"| {r['regime']} | {r['variant']} | v{r['recipe'].get('version', '?')} | {subset} | {m['queries']} | {m['bm25']['ndcg@10']:.3f} | "
                f"{m['stage1_dense']['ndcg@10']:.3f} | {m['stage2_rerank']['ndcg@10']:.3f} | "
                f"{m['stage2_rerank']['ndcg@10'] - m['stage1_dense']['ndcg@10']:+.3f} | "
                f"{m.get('stage2_alone', {}).get('ndcg@10', float('nan')):.3f} | {ts.get('stage1', 0):.0f} | "
                f"{ts.get('stage2', 0):.0f} | {ts.get('total', 0):.0f} |"
            )
    text = "# From-scratch quality (nDCG@10)\n\n" + "\n".join(lines) + "\n"
    (out_dir / "summary.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.quality_scratch", description=__doc__.split("\n\n")[0])
    p.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=list(REGIMES))
    p.add_argument("--variant", nargs="+", default=["default"], choices=list(VARIANTS))
    p.add_argument("--out", default="results/quality_scratch")
    p.add_argument("--cache", default=".cache/quality_scratch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bars (the libraries' own included)")
    args = p.parse_args(argv)
    from retrieval.progress import quiet_progress

    for regime in args.regimes:
        for variant in args.variant:
            with quiet_progress(args.no_progress):
                r = run_regime(regime, variant, Path(args.out), Path(args.cache), args.seed, not args.no_progress)
            print(json.dumps({"regime": regime, "variant": variant, "metrics": r["metrics"], "train_seconds": r["train_seconds"]}))
    print(_summary(Path(args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
