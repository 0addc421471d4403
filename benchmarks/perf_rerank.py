"""Stage-2 speed: the reranker against the naive ``CrossEncoder.predict`` loop, on SciFact candidates.

The cross-encoder is a MiniLM-L6-H384-*shaped* BERT classifier (one logit) with random weights,
built here from the shared WordPiece tokenizer (``init_std`` 0.1 spreads its scores, so that "same
scores" is a real check; speed does not depend on the weights). It is not a pretrained model.
Stage 1 is BM25 (bm25s, `benchmarks.bm25`) over SciFact: each test query's top `--candidates`.

Sections:
    throughput  the naive loop users write, ``CrossEncoder.predict(pairs_of_one_query, batch_size=32)``
                once per query, against ``CrossEncoderReranker.score`` (all pairs of a chunk of queries
                in one call) and its int8 variant, on the same pairs. Chunks alternate which runs
                first, so load from other processes falls on all of them alike; ratios come from one
                run. Max |score difference| against the naive loop is reported (fp32 target <= 1e-4).
    latency     stage-2 ms per query (one query per call) at 10, 20, 50, 100 candidates.
    quality     int8 against fp32: nDCG@10 of both rankings, Kendall tau and top-10 overlap. With the
                random model nDCG is noise; pass ``--quality-model`` (a trained cross-encoder) for a
                meaningful nDCG comparison.

FLOPs per pair of L real tokens (no padding), per layer, h = hidden size, f = feed-forward size:
    dense = 2 * L * (4*h*h + 2*h*f)      attention = 2 * 2 * L * L * h
``GFLOP/s`` counts the dense (linear-layer) work of the full model on real tokens, the convention of
the issue's 54 GFLOP/s figure; ``with attention`` adds the attention matmuls. Both are the model's
nominal work, the same for every method, so ratios of GFLOP/s are ratios of pairs/s. The matmul
peak (`benchmarks.peak`) is measured in the same run, before, between and after the sections.

Example:
    python -m benchmarks.perf_rerank --queries 8
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main"]

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TWOSTAGE_SHARED", REPO.parent / "shared"))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf_rerank", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=SHARED / "datasets" / "scifact")
    parser.add_argument("--tokenizer", type=Path, default=SHARED / "tokenizers" / "bert-uncased-wordpiece")
    parser.add_argument("--queries", type=int, default=8, help="test queries for throughput (default 8)")
    parser.add_argument("--all", action="store_true", help="every test query (300) for throughput: hours")
    parser.add_argument("--candidates", type=int, default=100, help="stage-1 candidates per query (default 100)")
    parser.add_argument("--chunk", type=int, default=4, help="queries per reranker call in the throughput run")
    parser.add_argument("--latency-depths", default="10,20,50,100", help="candidates per query for latency")
    parser.add_argument("--latency-queries", type=int, default=3, help="queries timed per depth (default 3)")
    parser.add_argument("--max-tokens", type=int, default=None, help="the reranker's token budget per batch")
    parser.add_argument("--workers", type=int, default=None, help="the reranker's worker threads (default: torch's)")
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 variant")
    parser.add_argument(
        "--extra-budgets", default="", help="also time fp32 at these max_tokens (comma-separated) in the same run"
    )
    parser.add_argument("--quality-model", type=Path, help="a trained cross-encoder for the int8 nDCG check")
    parser.add_argument("--quality-queries", type=int, default=0, help="test queries for --quality-model (0: all)")
    parser.add_argument("--model", type=Path, help="a saved cross-encoder to time (default: build the MiniLM shape)")
    parser.add_argument("--docs", type=int, default=0, help="index the first N documents only (0: all; smoke tests)")
    parser.add_argument("--peak-size", type=int, default=2048, help="n of the n x n x n matmul peak (default 2048)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "results" / "perf_rerank")
    return parser


# ---------------------------------------------------------------- data and model


def _build_model(tokenizer: Path, out: Path) -> Path:
    from rerank.scratch import random_cross_encoder
    from retrieval.scratch import MINILM_L6_SHAPE

    return random_cross_encoder(tokenizer, out, MINILM_L6_SHAPE, num_labels=1, max_length=512, init_std=0.1)


def _candidates(dataset: Any, qids: Sequence[str], depth: int) -> dict[str, list[Any]]:
    """BM25's top `depth` documents per query, as stage-1 `Hit`s."""
    from benchmarks.bm25 import BM25Retriever
    from retrieval.types import Hit

    docs = {d.doc_id: d for d in dataset.corpus}
    run = BM25Retriever(dataset.corpus).search({q: dataset.queries[q] for q in qids}, k=depth)
    return {
        q: [Hit(d, s, r, docs[d].title, docs[d].text, {}, s, r) for r, (d, s) in enumerate(run[q].items(), start=1)]
        for q in qids
    }


def _flops(lengths: np.ndarray, config: Any) -> tuple[float, float]:
    h, f, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    lengths = lengths.astype(np.float64)
    dense = layers * 2 * lengths.sum() * (4 * h * h + 2 * h * f)
    attention = layers * 4 * (lengths**2).sum() * h
    return float(dense), float(attention)


def _executed_share(config: Any) -> float:
    """The share of the nominal dense FLOPs the packed forward runs: the last layer only projects K and V."""
    h, f, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    return round(((layers - 1) + 2 * h * h / (4 * h * h + 2 * h * f)) / layers, 4)


def _peak(n: int) -> float:
    from benchmarks.peak import matmul_peak_gflops

    return round(matmul_peak_gflops(n=n, repeats=3), 1)


# ---------------------------------------------------------------- sections


def _throughput(
    model: Any, rerankers: dict[str, Any], qids: list[str], queries: dict, cands: dict, chunk: int, peak_n: int
) -> dict:
    from retrieval.encoder import document_text
    from tqdm.auto import tqdm

    seconds = {"naive": 0.0, **{name: 0.0 for name in rerankers}}
    scores: dict[str, dict[str, np.ndarray]] = {name: {} for name in seconds}
    peaks = []
    chunks = [qids[i : i + chunk] for i in range(0, len(qids), chunk)]
    for c, part in enumerate(tqdm(chunks, desc="throughput chunks")):
        order = ["naive", *rerankers] if c % 2 == 0 else ["naive", *rerankers][::-1]
        for name in order:
            start = time.perf_counter()
            if name == "naive":
                for q in part:
                    pairs = [(queries[q], document_text(h)) for h in cands[q]]
                    scores[name][q] = model.predict(pairs, batch_size=32, show_progress_bar=False)
            else:
                rows = rerankers[name].score([queries[q] for q in part], [cands[q] for q in part])
                scores[name].update(zip(part, rows))
            seconds[name] += time.perf_counter() - start
        if c == len(chunks) // 2:
            peaks.append(_peak(peak_n))
    return {"seconds": seconds, "scores": scores, "peaks": peaks}


def _latency(
    model: Any, rerankers: dict[str, Any], qids: list[str], queries: dict, cands: dict, depths: list[int]
) -> dict:
    from retrieval.encoder import document_text

    out: dict[str, dict[str, float]] = {}
    for depth in depths:
        times: dict[str, list[float]] = {"naive": [], **{name: [] for name in rerankers}}
        for i, q in enumerate(qids):
            hits = cands[q][:depth]
            names = list(times) if i % 2 == 0 else list(times)[::-1]
            for name in names:
                start = time.perf_counter()
                if name == "naive":
                    pairs = [(queries[q], document_text(h)) for h in hits]
                    model.predict(pairs, batch_size=32, show_progress_bar=False)
                else:
                    rerankers[name].score([queries[q]], [hits])
                times[name].append(time.perf_counter() - start)
        out[str(depth)] = {name: round(1000 * float(np.median(t)), 1) for name, t in times.items()}
    return out


def _rankings(scores: dict[str, np.ndarray], cands: dict[str, list[Any]]) -> dict[str, dict[str, float]]:
    return {q: {h.doc_id: float(s) for h, s in zip(cands[q], row)} for q, row in scores.items()}


def _agreement(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, float]:
    """Mean Kendall tau and top-10 overlap of two scorings of the same candidates."""
    from scipy.stats import kendalltau

    taus, overlaps = [], []
    for q in a:
        taus.append(kendalltau(a[q], b[q]).statistic)
        top_a, top_b = set(np.argsort(-a[q])[:10]), set(np.argsort(-b[q])[:10])
        overlaps.append(len(top_a & top_b) / 10)
    return {"kendall_tau": round(float(np.mean(taus)), 4), "top10_overlap": round(float(np.mean(overlaps)), 4)}


def _quality(scores: dict[str, dict[str, np.ndarray]], cands: dict, qrels: dict) -> dict[str, Any]:
    from benchmarks.metrics import evaluate

    qids = list(scores["fp32"])
    judged = {q: qrels[q] for q in qids}
    bm25 = {q: {h.doc_id: float(h.stage1_score) for h in cands[q]} for q in qids}
    ndcg = {"bm25": round(evaluate(judged, bm25, ["ndcg@10"])["ndcg@10"], 4)}
    out: dict[str, Any] = {"queries": len(qids), "ndcg@10": ndcg}
    for name, by_query in scores.items():
        out["ndcg@10"][name] = round(evaluate(judged, _rankings(by_query, cands), ["ndcg@10"])["ndcg@10"], 4)
    if "int8" in scores:
        out["int8_vs_fp32"] = _agreement(scores["fp32"], scores["int8"])
        out["ndcg_delta"] = round(out["ndcg@10"]["int8"] - out["ndcg@10"]["fp32"], 4)
    return out


def _model_quality(path: Path, dataset: Any, n: int, depth: int, seed: int) -> dict[str, Any]:
    from benchmarks.datasets import sample_queries
    from rerank.cross_encoder import CrossEncoderReranker

    ds = sample_queries(dataset, n or None, seed=seed)
    qids = sorted(ds.queries)
    cands = _candidates(dataset, qids, depth)
    scores = {}
    for name, int8 in (("fp32", False), ("int8", True)):
        reranker = CrossEncoderReranker.load(str(path), device="cpu", int8=int8, show_progress=True)
        scores[name] = dict(zip(qids, reranker.score([ds.queries[q] for q in qids], [cands[q] for q in qids])))
    return {"model": str(path), **_quality(scores, cands, dataset.qrels)}


# ---------------------------------------------------------------- report


def _report(r: dict[str, Any]) -> str:
    t = r["throughput"]
    lines = [
        "# Stage-2 reranking speed",
        "",
        f"Command: `{r['command']}`",
        f"Model: {r['model']['description']}; stage 1: {r['stage1']}.",
        f"Machine: {r['environment']['cpu']}, {r['environment']['torch_threads']} torch threads; "
        f"load averages (1, 5, 15 min): {r.get('loads', {'start': r['load_before'], 'end': r['load_after']})} "
        "(the cores are shared with other work).",
        f"Matmul peak (fp32, {r['peak_size']}^3, measured in this run): {r['peaks']} GFLOP/s; efficiency "
        f"below uses the highest, {max(r['peaks'])}.",
        "",
        f"## Throughput: {t['queries']} queries x {r['candidates']} candidates = {t['pairs']} pairs, "
        f"{t['mean_tokens']:.0f} tokens per pair on average, {t['truncated']} truncated to {r['max_length']}",
        "",
        "| method | seconds | pairs/s | x naive | GFLOP/s (dense) | with attention | % of peak "
        "| max abs diff vs naive |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in t["methods"].items():
        lines.append(
            f"| {name} | {row['seconds']:.1f} | {row['pairs_per_s']:.2f} | {row['speedup']:.2f} | "
            f"{row['gflops_dense']:.1f} | {row['gflops_total']:.1f} | {row['pct_peak']:.0f}% "
            f"| {row['max_abs_diff']:.2e} |"
        )
    lines += [
        "",
        "`naive`: `CrossEncoder.predict(pairs_of_one_query, batch_size=32)` per query. `fp32`: "
        f"`CrossEncoderReranker.score` over {r['chunk']} queries per call ({r['reranker']}). `int8`: the same "
        "with int8 dynamic quantisation of the linear layers. GFLOP/s count the model's nominal work (same for "
        f"every method); the packed forward skips part of the last layer and runs {r['executed_dense_share']:.0%} "
        "of the nominal dense FLOPs, so its executed dense rate is that share of the column.",
        "",
        "## Latency: stage-2 ms per query (median, one query per call)",
        "",
        "| candidates | " + " | ".join(next(iter(r["latency"].values()))) + " |",
        "|---" * (1 + len(next(iter(r["latency"].values())))) + "|",
    ]
    for depth, row in r["latency"].items():
        lines.append(f"| {depth} | " + " | ".join(f"{v:.0f}" for v in row.values()) + " |")
    q = r["quality"]
    lines += ["", "## int8 against fp32", ""]
    lines.append(
        f"The timed model, the {q['queries']} throughput queries: nDCG@10 "
        + ", ".join(f"{k} {v:.4f}" for k, v in q["ndcg@10"].items())
        + (f"; int8 - fp32 = {q['ndcg_delta']:+.4f}; Kendall tau {q['int8_vs_fp32']['kendall_tau']:.3f}, top-10 "
           f"overlap {q['int8_vs_fp32']['top10_overlap']:.3f}." if "int8_vs_fp32" in q else ".")
    )
    if not r["model"]["path"]:
        lines.append("(Random weights: these nDCG values are noise; the agreement figures are what it can show.)")
    if r.get("model_quality"):
        m = r["model_quality"]
        lines.append(
            f"\nTrained model `{m['model']}`, {m['queries']} queries: nDCG@10 "
            + ", ".join(f"{k} {v:.4f}" for k, v in m["ndcg@10"].items())
            + f"; int8 - fp32 = {m['ndcg_delta']:+.4f}; Kendall tau {m['int8_vs_fp32']['kendall_tau']:.3f}, "
            f"top-10 overlap {m['int8_vs_fp32']['top10_overlap']:.3f}."
        )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from sentence_transformers import CrossEncoder

    from benchmarks.datasets import load_beir, sample_queries
    from benchmarks.environment import environment
    from rerank.cross_encoder import CrossEncoderReranker
    from rerank.pairs import encode_pairs
    from retrieval.encoder import document_text

    if args.candidates <= 0 or args.queries <= 0 or args.chunk <= 0:
        print("error: --candidates, --queries and --chunk must be positive", file=sys.stderr)
        return 2
    started = time.time()
    load_before = [round(x, 2) for x in os.getloadavg()]
    env = environment(measure_peak=False)
    peaks = [_peak(args.peak_size)]
    dataset = load_beir(args.dataset)
    if args.docs:
        dataset = replace(dataset, corpus=dataset.corpus[: args.docs])
    tmp = tempfile.TemporaryDirectory()
    model_path = args.model or _build_model(args.tokenizer, Path(tmp.name) / "minilm-shaped-random")
    model = CrossEncoder(str(model_path), device="cpu")
    config = model.model.config
    description = (
        f"{'given ' + str(args.model) if args.model else 'random-weight BERT classifier of MiniLM-L6-H384 shape'} "
        f"({config.num_hidden_layers} layers, hidden {config.hidden_size}, {config.num_attention_heads} heads, "
        f"FFN {config.intermediate_size}, 1 logit, max length {model.max_seq_length})"
    )
    options = {"device": "cpu", "max_tokens": args.max_tokens, "workers": args.workers}
    rerankers = {"fp32": CrossEncoderReranker.load(str(model_path), **options)}
    if not args.no_int8:
        rerankers["int8"] = CrossEncoderReranker.load(str(model_path), int8=True, **options)
    for budget in [int(b) for b in args.extra_budgets.split(",") if b]:
        rerankers[f"fp32 max_tokens={budget}"] = CrossEncoderReranker.load(
            str(model_path), **{**options, "max_tokens": budget}
        )

    test = sample_queries(dataset, None if args.all else args.queries, seed=args.seed)
    qids = sorted(test.queries)
    depths = [int(d) for d in args.latency_depths.split(",") if d]
    cands = _candidates(dataset, qids, max([args.candidates, *depths]))
    for q in qids:
        cands[q] = cands[q][: max([args.candidates, *depths])]
    through = {q: cands[q][: args.candidates] for q in qids}
    flat_q = [test.queries[q] for q in qids for _ in through[q]]
    flat_p = [document_text(h) for q in qids for h in through[q]]
    enc = encode_pairs(model.tokenizer, flat_q, flat_p, rerankers["fp32"].max_length)
    dense, attention = _flops(enc.lengths, config)

    loads = {"start": load_before}
    raw = _throughput(model, rerankers, qids, test.queries, through, args.chunk, args.peak_size)
    loads["after throughput"] = [round(x, 2) for x in os.getloadavg()]
    peaks += raw["peaks"]
    latency_qids = qids[: args.latency_queries]
    main_methods = {k: v for k, v in rerankers.items() if k in ("fp32", "int8")}
    latency = _latency(model, main_methods, latency_qids, test.queries, cands, depths)
    loads["after latency"] = [round(x, 2) for x in os.getloadavg()]
    peaks.append(_peak(args.peak_size))
    peak = max(peaks)
    pairs = len(flat_q)
    naive_scores = np.concatenate([raw["scores"]["naive"][q] for q in qids])
    methods = {}
    for name, secs in raw["seconds"].items():
        got = np.concatenate([raw["scores"][name][q] for q in qids])
        methods[name] = {
            "seconds": round(secs, 2),
            "pairs_per_s": round(pairs / secs, 3),
            "speedup": round(raw["seconds"]["naive"] / secs, 3),
            "gflops_dense": round(dense / secs / 1e9, 1),
            "gflops_total": round((dense + attention) / secs / 1e9, 1),
            "pct_peak": round(100 * dense / secs / 1e9 / peak, 1),
            "max_abs_diff": float(np.abs(got - naive_scores).max()),
        }
    result = {
        "command": "python -m benchmarks.perf_rerank " + " ".join(argv if argv is not None else sys.argv[1:]),
        "model": {"description": description, "path": str(args.model) if args.model else None},
        "stage1": f"BM25 (bm25s) top {args.candidates} over SciFact ({len(dataset.corpus)} documents, title + text)",
        "candidates": args.candidates,
        "max_length": rerankers["fp32"].max_length,
        "chunk": args.chunk,
        "reranker": json.dumps({k: v for k, v in rerankers["fp32"].info().items() if k != "name"}),
        "environment": env,
        "load_before": load_before,
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "loads": loads,
        "executed_dense_share": _executed_share(config),
        "peaks": peaks,
        "peak_size": args.peak_size,
        "throughput": {
            "queries": len(qids),
            "pairs": pairs,
            "mean_tokens": float(enc.lengths.mean()),
            "truncated": enc.truncated,
            "flops_dense_per_pair": dense / pairs,
            "flops_attention_per_pair": attention / pairs,
            "methods": methods,
        },
        "latency": latency,
        "latency_queries": len(latency_qids),
        "quality": _quality({k: v for k, v in raw["scores"].items()}, through, dataset.qrels),
        "seconds": round(time.time() - started, 1),
    }
    if args.quality_model:
        result["model_quality"] = _model_quality(
            args.quality_model, dataset, args.quality_queries, args.candidates, args.seed
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=2))
    (args.out / "report.md").write_text(_report(result))
    print(_report(result))
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
