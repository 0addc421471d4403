"""How far a stage-1 figure moves with the training seed, and how much a seed ensemble buys.

Trains the recipe's stage 1 one member at a time (seeds 0, 1, ...; one corpus tokenizer shared by
all, as in the recipe), scores each member alone and the ensembles of the first k members
(`retrieval.train.join_static_models`, what `BiEncoderConfig.members` builds), nDCG@10 on each
split asked for. Without labels (the default) the SciFact train queries are a fair development set:
stage 1 never trains on them.

    python -m benchmarks.seed_spread scifact --seeds 10 --joins 1,5,10 --splits train,test
    python -m benchmarks.seed_spread scifact --seeds 5 --set learning_rate=0.1   # a variant's spread

Writes <out>/members.csv, members.json, summary.md and spread.png.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.paths import shared_dir

__all__ = ["main", "parse_overrides", "seed_spread", "summarise"]


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["learning_rate=0.1", "epochs=3"]`` -> ``{"learning_rate": 0.1, "epochs": 3}`` (values read as JSON, else text).

    Example:
        >>> parse_overrides(["learning_rate=0.1", "tokenizer=corpus"])
        {'learning_rate': 0.1, 'tokenizer': 'corpus'}
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set takes KEY=VALUE (a BiEncoderConfig field), got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _ndcg_at_10(encoder: Any, index: Any, queries: Mapping[str, str], qrels: Mapping[str, Mapping[str, int]]) -> float:
    from benchmarks.metrics import evaluate
    from rerank.train.data import stage1_ranked

    asked = {q: queries[q] for q in sorted(qrels) if q in queries}
    ranked = stage1_ranked(encoder, index, asked, 100)
    run = {q: dict(hits) for q, hits in ranked.items()}
    return round(evaluate(qrels, run, ["ndcg@10"])["ndcg@10"], 4)


def seed_spread(
    corpus: Any,
    splits: Mapping[str, tuple[Mapping[str, str], Mapping[str, Mapping[str, int]]]],
    seeds: int,
    joins: Sequence[int],
    config: Any,
    train_queries: Mapping[str, str] | None = None,
    train_qrels: Mapping[str, Mapping[str, int]] | None = None,
    show_progress: bool = True,
) -> list[dict[str, Any]]:
    """Score `seeds` members of `config` alone and the joins of the first k of them on every split.

    Args:
        corpus: anything `indexes.read_corpus` reads.
        splits: ``{name: (queries, qrels)}`` to score on (never a split stage 1 trained on).
        seeds: members to train, seeds 0 .. seeds - 1.
        joins: ensemble sizes to score (each at most `seeds`; 1 is the first member alone again).
        config: a `BiEncoderConfig` (its `members` and `seed` are replaced; a ``"corpus"`` tokenizer
            is trained once here, of its `vocab_size` and `merge_inflections`, and shared, as the recipe does).
        train_queries, train_qrels: labelled pairs stage 1 trains on, if any.

    Returns:
        One row per member and per join: ``{"kind", "seeds", "split", "ndcg@10", "train_s"}``.
    """
    from sentence_transformers import SentenceTransformer
    from tqdm.auto import tqdm

    from indexes import read_corpus
    from retrieval.encoder import Encoder, document_text
    from retrieval.indexing import build_index
    from retrieval.encoder import BULK_ENCODING
    from retrieval.train import join_static_models, train_bi_encoder
    from retrieval.train.tokenizer import train_wordpiece

    if seeds < 1:
        raise ValueError(f"seeds must be at least 1, got {seeds}")
    bad = [k for k in joins if not 1 <= k <= seeds]
    if bad:
        raise ValueError(f"joins {bad} are not between 1 and --seeds ({seeds}): an ensemble joins members trained here")
    if any(k > 1 for k in joins) and (config.model is not None or config.architecture != "static"):
        raise ValueError("joins of more than 1 member need from-scratch static members: pass --joins 1 for other models")
    if config.vocab_sizes:
        raise ValueError("the seed spread trains members of one vocabulary: leave vocab_sizes empty")
    if train_qrels and any(set(qrels) & set(train_qrels) for _, qrels in splits.values()):
        raise ValueError("a scored split shares queries with the labelled pairs stage 1 trains on: score other splits")
    docs = read_corpus(corpus)
    texts = [document_text(d) for d in docs]
    rows: list[dict[str, Any]] = []

    def score(model: Any, kind: str, members: list[int], seconds: float) -> None:
        encoder = Encoder(model, name=f"{kind}{members}", batch_size=128, **BULK_ENCODING)
        index = build_index(docs, encoder, show_progress=False)
        for name, (queries, qrels) in splits.items():
            rows.append({"kind": kind, "seeds": members, "split": name,
                         "ndcg@10": _ndcg_at_10(encoder, index, queries, qrels), "train_s": round(seconds, 1)})

    with tempfile.TemporaryDirectory(prefix="seed_spread-") as work:
        work_dir = Path(work)
        if config.model is None and config.tokenizer == "corpus":
            tokenizer = train_wordpiece(
                texts, work_dir / "tokenizer", vocab_size=config.vocab_size, merge_inflections=config.merge_inflections
            )
            config = replace(config, tokenizer=str(tokenizer))
        models, seconds = [], []
        for seed in tqdm(range(seeds), desc="stage-1 members", disable=not show_progress):
            started = time.perf_counter()
            result = train_bi_encoder(
                docs, work_dir / f"seed{seed}", replace(config, members=1, seed=seed),
                train_queries, train_qrels, show_progress=False,
            )
            seconds.append(time.perf_counter() - started)
            models.append(SentenceTransformer(str(result.path), device="cpu"))
            score(models[-1], "member", [seed], seconds[-1])
        for k in sorted(set(joins)):
            joined = models[0] if k == 1 else join_static_models(models[:k], texts)
            score(joined, "join", list(range(k)), sum(seconds[:k]))
    return rows


def summarise(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per split: the members' mean, standard deviation, min and max, then each join's score.

    Example:
        >>> rows = [{"kind": "member", "seeds": [s], "split": "dev", "ndcg@10": v} for s, v in enumerate([0.6, 0.7])]
        >>> summarise(rows + [{"kind": "join", "seeds": [0, 1], "split": "dev", "ndcg@10": 0.72}])[0]["join 2"]
        0.72
    """
    out = []
    for split in dict.fromkeys(r["split"] for r in rows):
        members = [r["ndcg@10"] for r in rows if r["split"] == split and r["kind"] == "member"]
        line: dict[str, Any] = {
            "split": split, "members": len(members), "mean": round(statistics.fmean(members), 4),
            "sd": round(statistics.stdev(members), 4) if len(members) > 1 else 0.0,
            "min": min(members), "max": max(members),
        }
        line.update({f"join {len(r['seeds'])}": r["ndcg@10"] for r in rows if r["split"] == split and r["kind"] == "join"})
        out.append(line)
    return out


def _plot(rows: Sequence[Mapping[str, Any]], path: Path) -> Path:
    from benchmarks.plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for split in dict.fromkeys(r["split"] for r in rows):
        members = [r for r in rows if r["split"] == split and r["kind"] == "member"]
        joins = [r for r in rows if r["split"] == split and r["kind"] == "join"]
        (line,) = ax.plot([len(r["seeds"]) for r in joins], [r["ndcg@10"] for r in joins], marker="o", label=f"{split}: join of first k")
        ax.scatter([1] * len(members), [r["ndcg@10"] for r in members], color=line.get_color(), alpha=0.4, marker="x",
                   label=f"{split}: each member alone")
    ax.set_xlabel("members joined (k)")
    ax.set_ylabel("nDCG@10")
    ax.set_title("stage 1: seed spread and seed ensembles")
    ax.legend(fontsize=8)
    return save_figure(fig, plt, path, dpi=120)


def _write(rows: list[dict[str, Any]], out: Path, header: Mapping[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    table = summarise(rows)
    (out / "members.json").write_text(json.dumps({**header, "rows": rows, "summary": table}, indent=2))
    with (out / "members.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["kind", "seeds", "split", "ndcg@10", "train_s"])
        writer.writeheader()
        writer.writerows({**r, "seeds": " ".join(map(str, r["seeds"]))} for r in rows)
    keys = list(dict.fromkeys(k for line in table for k in line))
    lines = [f"# Stage-1 seed spread ({header['dataset']}, {header['regime']})", "",
             "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(line.get(k, "")) for k in keys) + " |" for line in table]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    _plot(rows, out / "spread.png")


def main(argv: list[str] | None = None) -> int:
    from benchmarks.datasets import load_beir
    from rerank.train.recipe import DEFAULT
    from retrieval.train.config import BiEncoderConfig

    p = argparse.ArgumentParser(prog="python -m benchmarks.seed_spread", description=__doc__.split("\n\n")[0])
    p.add_argument("dataset", help="a BEIR folder name under --data-dir (e.g. scifact)")
    p.add_argument("--data-dir", default=str(shared_dir() / "datasets"))
    p.add_argument("--seeds", type=int, default=5, help="members to train (seeds 0 .. N-1)")
    p.add_argument("--joins", default="1,5", help="ensemble sizes to score, comma-separated")
    p.add_argument("--splits", default="train,test", help="qrels splits to score (train only without --labels)")
    p.add_argument("--labels", action="store_true", help="train on the train split's labels (the labelled recipe's stage 1)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a BiEncoderConfig field")
    p.add_argument("--out", help="results folder (default results/seed_spread-<dataset>-<regime>)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)

    folder = Path(args.data_dir) / args.dataset
    if not folder.is_dir():
        p.error(f"{folder} is not a folder: pass --data-dir holding {args.dataset}/ (corpus.jsonl, queries.jsonl, qrels/)")
    names = [s for s in args.splits.split(",") if s]
    if args.labels and "train" in names:
        p.error("--labels trains stage 1 on the train split: score other splits (e.g. --splits test)")
    splits, corpus = {}, None
    for name in names:
        ds = load_beir(folder, split=name)
        splits[name], corpus = (dict(ds.queries), {q: dict(v) for q, v in ds.qrels.items()}), ds.corpus
    train_queries = train_qrels = None
    if args.labels:
        train = load_beir(folder, split="train")
        train_queries, train_qrels = dict(train.queries), {q: dict(v) for q, v in train.qrels.items()}
    base = DEFAULT.bi_encoder if args.labels else (DEFAULT.corpus_bi_encoder or DEFAULT.bi_encoder)
    overrides = parse_overrides(args.set)
    # One vocabulary's seeds (the recipe's main tokenizer); `--set vocab_sizes=...` is refused below.
    config = BiEncoderConfig.from_dict({**base.to_dict(), "vocab_sizes": (), **overrides, "use_labels": args.labels})
    joins = [int(k) for k in args.joins.split(",") if k]
    regime = "labels" if args.labels else "corpus"
    rows = seed_spread(
        corpus, splits, args.seeds, joins, config, train_queries=train_queries, train_qrels=train_qrels, show_progress=not args.no_progress,
    )
    out = Path(args.out or f"results/seed_spread-{args.dataset}-{regime}")
    _write(rows, out, {"dataset": args.dataset, "regime": regime, "overrides": overrides, "config": config.to_dict()})
    print((out / "summary.md").read_text())
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
