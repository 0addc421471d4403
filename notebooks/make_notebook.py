"""Write ``notebooks/stage_tradeoffs.ipynb`` (no outputs) from the cells below, so the notebook stays reviewable.

    python notebooks/make_notebook.py            # rewrite the notebook
    python notebooks/make_notebook.py --check    # exit 1 if the committed notebook differs from this script

The notebook only calls library code (`benchmarks.*`, `retrieval.*`); every analysis and plot it
shows is a function of `benchmarks.tradeoffs` / `benchmarks.tradeoff_plots`, the same ones
``python -m benchmarks.run`` writes into a results folder.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["NOTEBOOK", "build", "main"]

NOTEBOOK = Path(__file__).resolve().parent / "stage_tradeoffs.ipynb"

INTRO = """\
# Stage trade-offs: candidate depth, reranker, cut-off

A two-stage search engine retrieves candidates with a bi-encoder (stage 1) and reorders the top ones
with a cross-encoder (stage 2). Three choices trade quality against latency:

- **how many candidates** the reranker sees: more can only help up to stage 1's recall, and each costs
  a cross-encoder pass;
- **which reranker**: its quality per candidate against its cost per candidate;
- **the cut-off**: a threshold on the reranker's probability that drops hits, trading how many are kept
  against how many of the kept ones are relevant.

This notebook measures them on a dataset of yours. Set the parameters in the next cell and run all
cells; every table and figure comes from `benchmarks.tradeoffs` and `benchmarks.tradeoff_plots`, the
same functions `python -m benchmarks.run` uses for a results folder. Headless:
`jupyter execute notebooks/stage_tradeoffs.ipynb` (nbclient; the figures land in `OUT_DIR`). CI runs it
on a SciFact sample through `tests/test_notebook.py`. Do not commit outputs:
`python notebooks/make_notebook.py` rewrites this notebook clean."""

PARAMETERS = """\
# Parameters (a papermill-style "parameters" cell: override any of them before running).
DATA_DIR = None  # folder holding <DATASET>/ in BEIR layout; None: $TWOSTAGE_DATA_DIR, $TWOSTAGE_SHARED/datasets, else the nearest shared/datasets above here
DATASET = "scifact"  # a folder name under DATA_DIR, or the path of any BEIR folder (corpus.jsonl, queries.jsonl, qrels/)
SPLIT = "test"  # the judged queries to score
ENCODER = None  # stage 1: hub name or local path; None: as `python -m benchmarks.run` (hub cache, else trained here)
RERANKER = None  # stage 2 cross-encoder: hub name or local path; None: likewise
BUDGET = "fast"  # from-scratch training budget when a model is None: "fast" (minutes) or "default" (rerank.train.recipe)
DEPTHS = (10, 20, 50)  # candidate depths to rerank (the reranker scores the largest once); the CLI adds 100
RETRIEVAL_DEPTH = 100  # how deep stage 1 retrieves for its recall curve
MAX_QUERIES = None  # None: every judged query; an int: a seeded sample of them
MAX_DOCS = None  # None: the whole corpus; an int: every document judged for those queries plus a seeded sample of the rest
LATENCY_QUERIES = 16  # queries timed one at a time, per depth
METRIC = "ndcg@10"  # quality metric of the Pareto front and the per-query comparison
COMPARE_DEPTH = None  # rerank depth compared with stage 1 per query and cut by thresholds; None: max(DEPTHS)
CUTOFF_K = 10  # hits shown per query before the cut-off
SEED = 0
CACHE_DIR = None  # where models trained from scratch are cached; None: $TWOSTAGE_CACHE_DIR, else <checkout>/.cache/benchmarks
OUT_DIR = None  # where the figures and tables go; None: <checkout>/results/tradeoffs-<dataset>"""

SETUP = """\
import os
from pathlib import Path

import pandas as pd
from IPython.display import Image, Markdown, display

from benchmarks.collection import sample_corpus
from benchmarks.config import load_config
from benchmarks.datasets import load_dataset
from benchmarks.models import load_reranker, resolve_models
from benchmarks.paths import find_data_dir, project_dir
from benchmarks.stages import CountingReranker
from benchmarks.tradeoff_plots import (
    plot_cutoff, plot_depth_latency, plot_depth_quality, plot_pareto, plot_query_deltas, plot_recall_curve, write_tradeoffs,
)
from benchmarks.tradeoffs import collect_sweep, describe_tradeoffs, tradeoff_tables
from retrieval import Encoder, Searcher, build_index
from retrieval.encoder import BULK_ENCODING

data_dir = Path(DATA_DIR) if DATA_DIR else find_data_dir()
cache_dir = Path(CACHE_DIR or os.environ.get("TWOSTAGE_CACHE_DIR") or project_dir() / ".cache" / "benchmarks")
out_dir = Path(OUT_DIR or project_dir() / "results" / f"tradeoffs-{Path(DATASET).name}")
config = load_config(
    DATASET, data_dir=str(data_dir), split=SPLIT, encoder=ENCODER, reranker=RERANKER, scratch_budget=BUDGET,
    cache_dir=str(cache_dir), depths=tuple(DEPTHS), max_queries=MAX_QUERIES, seed=SEED,
)
dataset = sample_corpus(load_dataset(DATASET, data_dir, SPLIT, max_queries=MAX_QUERIES, seed=SEED), MAX_DOCS, seed=SEED)
print(dataset.describe(), "from", dataset.source)
print("figures and tables go to", out_dir)"""

MODELS_NOTE = """\
## Models

`resolve_models` picks them as `python -m benchmarks.run` does: `ENCODER` / `RERANKER` when given, else the
configured hub models when they are in the local Hugging Face cache, else **both are trained here from
scratch** (`rerank.train.recipe.scratch_models`, budget `BUDGET`) on the dataset's *train* split only (never the
queries scored below), and cached under `CACHE_DIR`. With the `"fast"` budget these are tiny models (a
32-dimensional static bi-encoder, a one-layer 32-wide cross-encoder), not pretrained ones: the numbers
show the mechanics of the trade-off, not the quality a real model reaches. The cell prints where each
model came from (`given`, `hub cache`, `scratch`)."""

MODELS = """\
models = resolve_models(config, dataset, need_encoder=True, need_reranker=True)
print("origin:", models.origin, "| training seconds:", {k: round(v, 1) for k, v in models.train_seconds.items()})
encoder = Encoder.load(models.encoder, device=config.device, batch_size=config.batch_size)
loaded = load_reranker(models.reranker)
print("encoder:", models.encoder)
print("reranker:", models.reranker, "|", loaded.info())
reranker = CountingReranker(loaded)  # counts pairs and truncations; mutes the per-call truncation notice"""

SWEEP_NOTE = """\
## The sweep

Stage 1 indexes the corpus and retrieves `RETRIEVAL_DEPTH` candidates per judged query; the reranker
scores the top `max(DEPTHS)` once, and each smaller depth reorders a prefix of the same list with the
same scores. Latency is timed one query at a time on `LATENCY_QUERIES` sampled queries, per depth.
`collect_sweep` is `benchmarks.sweep.run_sweep` keeping the candidates and scores;
`tradeoff_tables` turns them into every table below (`recall_curve`, `stage1_point`, `pareto_front`,
`query_deltas`, `cutoff_curve` of `benchmarks.tradeoffs`, which you can call with other arguments)."""

SWEEP = """\
corpus_encoder = Encoder.load(models.encoder, device=config.device, batch_size=128, **BULK_ENCODING)  # whole-corpus batching
index = build_index(dataset.corpus, corpus_encoder)
searcher = Searcher(index, encoder)
data = collect_sweep(
    searcher, reranker, dataset.queries, dataset.qrels, DEPTHS, retrieval_depth=RETRIEVAL_DEPTH,
    relevance_level=dataset.relevance_level, latency_queries=LATENCY_QUERIES, seed=SEED,
)
tables = tradeoff_tables(data, depth=COMPARE_DEPTH, metric=METRIC, k=CUTOFF_K)
settings = tables["settings"]
title = Path(DATASET).name
print(f"{reranker.pairs:,} pairs reranked ({reranker.truncated:,} cut to the reranker's max_length)")
display(pd.DataFrame([tables["dense"], *tables["sweep"]]))"""

RECALL_NOTE = """\
## 1. Stage-1 recall@k: the ceiling of any reranker

A reranker only reorders what stage 1 returned, so the share of relevant documents in the top k is
the most any reranker of k candidates can reach. Where this curve flattens, more candidates buy little."""

RECALL = """\
display(Image(filename=str(plot_recall_curve(tables["recall_curve"], out_dir / "recall_curve.png", settings["depths"], f"{title}: stage-1 recall@k"))))"""

QUALITY_NOTE = """\
## 2. Quality after reranking against the number of candidates

`METRIC` of the reranked list at each depth, stage 1 alone (dashed), and the ceiling (stage-1 recall at
that depth)."""

QUALITY = """\
display(Image(filename=str(plot_depth_quality(tables["sweep"], out_dir / "depth_quality.png", METRIC, tables["dense"], f"{title}: {METRIC} after reranking"))))"""

LATENCY_NOTE = """\
## 3. Latency per stage against the number of candidates

Median milliseconds per query for stage 1 (encode the query, search FAISS) and for reranking the top
`depth`, one query at a time, and the p50/p95 of both together."""

LATENCY = """\
display(Image(filename=str(plot_depth_latency(tables["sweep"], out_dir / "depth_latency.png", f"{title}: latency per stage"))))"""

PARETO_NOTE = """\
## 4. The Pareto front of quality against latency

Stage 1 alone and each rerank depth; a configuration is on the front when no other one is at least as
good and at least as fast (and better on one)."""

PARETO = """\
display(Image(filename=str(plot_pareto(tables["pareto"], out_dir / "pareto.png", METRIC, "p50_ms", f"{title}: {METRIC} against latency"))))
display(pd.DataFrame(tables["pareto"]))"""

DELTAS_NOTE = """\
## 5. Per query: where reranking wins and loses

`METRIC` of dense + rerank at `COMPARE_DEPTH` minus dense alone, for every judged query, sorted. A mean
gain can hide many losses; these are the queries to read."""

DELTAS = """\
display(Image(filename=str(plot_query_deltas(tables["query_deltas"], out_dir / "query_deltas.png", METRIC, f"{title}: rerank@{settings['depth']} against dense, per query"))))
display(tables["delta_summary"])
display(pd.DataFrame(tables["query_deltas"][:5] + tables["query_deltas"][-5:]))  # the largest gains and losses"""

CUTOFF_NOTE = """\
## 6. The cut-off threshold

The reranked top `CUTOFF_K` of each query, cut at thresholds over the reranker's probabilities (what
`Searcher.query(min_score=...)` does): the share of hits kept against the precision of what is kept,
and, against the threshold, how many relevant hits survive and how many queries are left with nothing.
The reranker's calibrated threshold (from its training, when it has one) is marked."""

CUTOFF = """\
display(Image(filename=str(plot_cutoff(tables["cutoff"], out_dir / "cutoff.png", settings["threshold"], f"{title}: cut-off on the reranked top {CUTOFF_K}"))))
display(pd.DataFrame(tables["cutoff"]))
display(tables["cutoff_at_threshold"])  # None when the reranker has no calibrated threshold"""

CLOSING_NOTE = """\
## What this run shows

The figures above in words, with this run's numbers (`describe_tradeoffs`). `write_tradeoffs` saves the
same figures with `tradeoffs.json` (every table) and `tradeoffs.md` (these lines) into `OUT_DIR`."""

CLOSING = """\
write_tradeoffs(data, out_dir, depth=COMPARE_DEPTH, metric=METRIC, k=CUTOFF_K, title=title)
display(Markdown("\\n".join(f"- {line}" for line in describe_tradeoffs(tables))))"""

CELLS = [
    ("markdown", INTRO),
    ("code", PARAMETERS),
    ("code", SETUP),
    ("markdown", MODELS_NOTE),
    ("code", MODELS),
    ("markdown", SWEEP_NOTE),
    ("code", SWEEP),
    ("markdown", RECALL_NOTE),
    ("code", RECALL),
    ("markdown", QUALITY_NOTE),
    ("code", QUALITY),
    ("markdown", LATENCY_NOTE),
    ("code", LATENCY),
    ("markdown", PARETO_NOTE),
    ("code", PARETO),
    ("markdown", DELTAS_NOTE),
    ("code", DELTAS),
    ("markdown", CUTOFF_NOTE),
    ("code", CUTOFF),
    ("markdown", CLOSING_NOTE),
    ("code", CLOSING),
]


def build() -> str:
    """The notebook as JSON text (nbformat 4, no outputs, the parameters cell tagged ``parameters``)."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    cells = []
    for i, (kind, source) in enumerate(CELLS):
        cell = new_markdown_cell(source) if kind == "markdown" else new_code_cell(source)
        cell["id"] = f"cell-{i:02d}"  # stable ids keep diffs small
        if source is PARAMETERS:
            cell["metadata"]["tags"] = ["parameters"]
        cells.append(cell)
    nb = new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
            "language_info": {"name": "python"},
        },
    )
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write the notebook, or with ``--check`` say whether the committed one is up to date (0) or not (1)."""
    parser = argparse.ArgumentParser(prog="python notebooks/make_notebook.py", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed notebook instead of writing it")
    parser.add_argument("--out", default=str(NOTEBOOK), help=f"where to write (default {NOTEBOOK})")
    args = parser.parse_args(argv)
    text = build()
    out = Path(args.out)
    if args.check:
        if not out.exists() or out.read_text(encoding="utf-8") != text:
            print(f"{out} is not what make_notebook.py writes: run python notebooks/make_notebook.py", file=sys.stderr)
            return 1
        return 0
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
