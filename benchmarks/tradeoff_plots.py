"""PNG plots of the stage trade-offs (matplotlib, Agg backend unless a notebook set its own).

Each function draws one table of `benchmarks.tradeoffs` and returns the PNG's path;
`write_tradeoffs` draws them all from a `SweepData` and saves the tables beside them as JSON
(what ``python -m benchmarks.run`` adds to a results folder, and what the notebook shows).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.plots import finish_axes, pyplot, save_figure

__all__ = [
    "FIGURES",
    "plot_cutoff",
    "plot_depth_latency",
    "plot_depth_quality",
    "plot_pareto",
    "plot_query_deltas",
    "plot_recall_curve",
    "write_tradeoffs",
]

# The files `write_tradeoffs` writes, by table name.
FIGURES = {
    "recall_curve": "recall_curve.png",
    "depth_quality": "depth_quality.png",
    "depth_latency": "depth_latency.png",
    "pareto": "pareto.png",
    "query_deltas": "query_deltas.png",
    "cutoff": "cutoff.png",
}


def _log_x(ax: Any) -> None:
    """A log-scale x axis labelled 1, 2, 5, 10, 20, 50... in plain numbers."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.set_xscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def plot_recall_curve(
    rows: Sequence[Mapping[str, Any]], path: str | Path, depths: Sequence[int] = (), title: str = ""
) -> Path:
    """Stage-1 recall@k against k (log scale), with the sweep's depths marked.

    Example:
        >>> plot_recall_curve([{"k": 1, "recall": 0.3}, {"k": 10, "recall": 0.7}], "/tmp/recall.png", [10]).name
        'recall.png'
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    ks = [r["k"] for r in rows]
    ax.plot(ks, [r["recall"] for r in rows], "o-", color="tab:blue", ms=4, label="stage-1 recall@k")
    by_k = {r["k"]: r["recall"] for r in rows}
    for d in depths:
        ax.axvline(d, color="grey", ls=":", lw=1)
        if d in by_k:
            ax.annotate(f"@{d}: {by_k[d]:.3f}", (d, by_k[d]), textcoords="offset points", xytext=(4, -12), fontsize=8)
    _log_x(ax)
    ax.set_ylim(0, 1.02)
    finish_axes(
        ax, "k: candidates passed to the reranker (log scale)", "recall@k (the ceiling of any reranker)",
        title or "stage-1 recall@k", "lower right",
    )
    return save_figure(fig, plt, path)


def plot_depth_quality(
    rows: Sequence[Mapping[str, Any]],
    path: str | Path,
    metric: str = "ndcg@10",
    baseline: Mapping[str, Any] | None = None,
    title: str = "",
) -> Path:
    """A quality metric after reranking against the number of candidates, with the ceiling and stage 1 alone.

    Args:
        rows: `benchmarks.sweep.depth_sweep` rows.
        baseline: stage 1 alone (`benchmarks.tradeoffs.stage1_point`), drawn as a horizontal line.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    depths = [r["depth"] for r in rows]
    ax.plot(depths, [r[metric] for r in rows], "o-", color="tab:blue", label=f"dense + rerank: {metric}")
    for r in rows:
        ax.annotate(f"{r[metric]:.3f}", (r["depth"], r[metric]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if all("ceiling_recall" in r for r in rows):
        ax.plot(depths, [r["ceiling_recall"] for r in rows], "s--", color="tab:green", ms=4, label="ceiling: stage-1 recall@depth")
    if baseline is not None and metric in baseline:
        ax.axhline(baseline[metric], color="tab:orange", ls="--", label=f"dense alone: {baseline[metric]:.3f}")
    ax.set_xscale("log")
    ax.set_xticks(depths, [str(d) for d in depths])
    ax.set_xticks([], minor=True)
    ax.set_ylim(0, 1.02)
    finish_axes(ax, "candidates reranked (depth)", metric, title or f"{metric} against the number of candidates")
    return save_figure(fig, plt, path)


def plot_depth_latency(rows: Sequence[Mapping[str, Any]], path: str | Path, title: str = "") -> Path:
    """p50 latency per query of each stage (stage 1, reranking) and in all (p50, p95) against depth.

    Rows without latency are skipped.
    """
    plt = pyplot()
    timed = [r for r in rows if r.get("p50_ms") is not None]
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    depths = [r["depth"] for r in timed]
    series = (
        ("stage1_p50_ms", "stage 1 (encode + search), p50", "o-", "tab:orange"),
        ("rerank_p50_ms", "reranking, p50", "o-", "tab:blue"),
        ("p50_ms", "both, p50", "s-", "black"),
        ("p95_ms", "both, p95", "s:", "grey"),
    )
    for key, label, style, color in series:
        ax.plot(depths, [r[key] for r in timed], style, color=color, ms=4, label=label)
    for r in timed:
        ax.annotate(f"{r['p50_ms']:.1f}", (r["depth"], r["p50_ms"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if depths:
        ax.set_xticks(depths, [str(d) for d in depths])
    ax.set_xlim(0, max(depths, default=1) * 1.08)
    ax.set_ylim(bottom=0)
    finish_axes(
        ax, "candidates reranked (depth)", "ms per query (one query at a time)",
        title or "latency per stage against the number of candidates",
    )
    return save_figure(fig, plt, path)


def plot_pareto(
    rows: Sequence[Mapping[str, Any]],
    path: str | Path,
    quality: str = "ndcg@10",
    cost: str = "p50_ms",
    title: str = "",
) -> Path:
    """Quality against latency; the Pareto front (`benchmarks.tradeoffs.pareto_front` rows) joined.

    Points are labelled by depth (``dense`` for stage 1 alone, depth 0).
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    front = [r for r in rows if r.get("pareto")]
    others = [r for r in rows if not r.get("pareto")]
    if front:
        ax.plot([r[cost] for r in front], [r[quality] for r in front], "o-", color="tab:blue", label="Pareto front", zorder=3)
    if others:
        ax.scatter([r[cost] for r in others], [r[quality] for r in others], color="grey", label="dominated", zorder=2)
    for r in rows:
        label = "dense" if not r.get("depth") else f"rerank@{r['depth']}"
        ax.annotate(label, (r[cost], r[quality]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    _log_x(ax)
    finish_axes(
        ax, f"{cost.replace('_ms', '')} latency per query (ms, log scale)", quality,
        title or f"{quality} against latency: the Pareto front",
    )
    return save_figure(fig, plt, path)


def plot_query_deltas(rows: Sequence[Mapping[str, Any]], path: str | Path, metric: str = "ndcg@10", title: str = "") -> Path:
    """One bar per query, sorted: the change in `metric` (`benchmarks.tradeoffs.query_deltas` rows)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    colors = {"win": "tab:green", "loss": "tab:red", "tie": "lightgrey"}
    ordered = sorted(rows, key=lambda r: -r["delta"])
    ax.bar(range(len(ordered)), [r["delta"] for r in ordered], width=1.0, color=[colors[r["outcome"]] for r in ordered])
    from matplotlib.patches import Patch

    handles = [
        Patch(color=colors[outcome], label=f"{label}: {sum(r['outcome'] == outcome for r in rows)}")
        for outcome, label in (("win", "wins"), ("loss", "losses"), ("tie", "ties"))
    ]
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlim(-0.5, max(len(ordered), 1) - 0.5)
    ax.set_xlabel("queries, sorted by change")
    ax.set_ylabel(f"{metric}: system - baseline")
    ax.set_title(title or f"per-query change in {metric}")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(handles=handles, fontsize=8, loc="upper right")
    return save_figure(fig, plt, path)


def plot_cutoff(
    rows: Sequence[Mapping[str, Any]], path: str | Path, threshold: float | None = None, title: str = ""
) -> Path:
    """The cut-off threshold (`benchmarks.tradeoffs.cutoff_curve` rows), in two panels.

    Left: precision of the kept hits against the share of hits kept. Right: against the threshold,
    the share of hits kept, of relevant hits kept, the precision, and the share of queries left
    with no hit. `threshold` (the reranker's calibrated cut-off) is marked when given.
    """
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 4.2), dpi=110)
    usable = [r for r in rows if r["precision"] is not None]
    left.plot([r["kept_fraction"] for r in usable], [r["precision"] for r in usable], "o-", ms=3, color="tab:blue")
    for r in usable[:: max(1, len(usable) // 5)]:
        left.annotate(f"t={r['threshold']:.6g}", (r["kept_fraction"], r["precision"]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    left.set_xlabel("share of hits kept")
    left.set_ylabel("precision of the kept hits")
    left.set_xlim(0, 1.02)
    left.set_ylim(0, 1.02)
    left.grid(True, alpha=0.3)
    left.set_title("hits kept against precision", fontsize=10)
    ts = [r["threshold"] for r in rows]
    right.plot(ts, [r["kept_fraction"] for r in rows], "-", color="black", label="hits kept")
    right.plot(ts, [r["relevant_kept_fraction"] for r in rows], "-", color="tab:green", label="relevant hits kept")
    right.plot([r["threshold"] for r in usable], [r["precision"] for r in usable], "-", color="tab:blue", label="precision")
    if rows:
        queries = max(1, rows[0]["queries"])
        right.plot(ts, [r["empty_queries"] / queries for r in rows], "--", color="tab:red", label="queries left empty")
    if threshold is not None:
        right.axvline(threshold, color="tab:purple", ls=":", label=f"calibrated threshold {threshold:.3g}")
    right.ticklabel_format(axis="x", useOffset=False)  # scores of a weak reranker can differ in the 6th digit
    right.tick_params(axis="x", labelsize=7, labelrotation=30)
    right.set_xlabel("threshold on the reranker's score")
    right.set_ylim(0, 1.02)
    right.grid(True, alpha=0.3)
    right.legend(fontsize=7, loc="best")
    right.set_title("against the threshold", fontsize=10)
    fig.suptitle(title or "the cut-off threshold", fontsize=11)
    return save_figure(fig, plt, path)


def write_tradeoffs(
    data: Any,
    out_dir: str | Path,
    depth: int | None = None,
    metric: str = "ndcg@10",
    k: int = 10,
    title: str = "",
) -> dict[str, Path]:
    """Every trade-off figure of a sweep, plus ``tradeoffs.json`` (the tables) and ``tradeoffs.md`` (in words).

    Args:
        data: a `benchmarks.tradeoffs.SweepData`.
        out_dir: the folder to write into.
        depth, metric, k: as `benchmarks.tradeoffs.tradeoff_tables`.
        title: a prefix of every figure's title (e.g. the dataset's name).

    Returns:
        The PNG paths by figure name (the keys of `FIGURES`).
    """
    from benchmarks.tradeoffs import describe_tradeoffs, tradeoff_tables

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = tradeoff_tables(data, depth, metric, k)
    st = tables["settings"]
    prefix = f"{title}: " if title else ""
    paths = {
        "recall_curve": plot_recall_curve(tables["recall_curve"], out / FIGURES["recall_curve"], st["depths"], f"{prefix}stage-1 recall@k"),
        "depth_quality": plot_depth_quality(tables["sweep"], out / FIGURES["depth_quality"], metric, tables["dense"], f"{prefix}{metric} after reranking"),
        "depth_latency": plot_depth_latency(tables["sweep"], out / FIGURES["depth_latency"], f"{prefix}latency per stage"),
        "pareto": plot_pareto(tables["pareto"], out / FIGURES["pareto"], metric, "p50_ms", f"{prefix}{metric} against latency"),
        "query_deltas": plot_query_deltas(
            tables["query_deltas"], out / FIGURES["query_deltas"], metric, f"{prefix}rerank@{st['depth']} against dense, per query"
        ),
        "cutoff": plot_cutoff(tables["cutoff"], out / FIGURES["cutoff"], st["threshold"], f"{prefix}cut-off on the reranked top {k}"),
    }
    with open(out / "tradeoffs.json", "w", encoding="utf-8") as handle:
        json.dump(tables, handle, indent=2, default=float)
    (out / "tradeoffs.md").write_text("\n".join(f"- {line}" for line in describe_tradeoffs(tables)) + "\n", encoding="utf-8")
    return paths
