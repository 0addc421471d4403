"""PNG plots of a run (matplotlib, Agg backend): quality against latency, and stages side by side.

Also the helpers every benchmark figure is drawn with: `pyplot` (Agg unless a notebook chose a
backend), `finish_axes` (labels, title, grid, legend) and `save_figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["finish_axes", "plot_stages", "plot_tradeoff", "pyplot", "save_figure"]


def pyplot() -> Any:
    """``matplotlib.pyplot``, on the Agg backend unless pyplot was already imported (a notebook keeps its own)."""
    import sys

    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:  # a notebook keeps its own backend
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def finish_axes(ax: Any, xlabel: str, ylabel: str, title: str, legend_loc: str = "best") -> None:
    """Label both axes, set the title, and add a light grid and a small legend."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc=legend_loc)


def save_figure(fig: Any, plt: Any, path: str | Path, dpi: float | None = None) -> Path:
    """Lay out `fig`, write it to `path` (creating the folder; at `dpi` when given, else the figure's) and close it."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, **({"dpi": dpi} if dpi else {}))
    plt.close(fig)
    return path


def plot_tradeoff(
    rows: Sequence[Mapping[str, Any]],
    path: str | Path,
    metric: str = "ndcg@10",
    references: Sequence[Mapping[str, Any]] = (),
    title: str = "",
) -> Path:
    """Quality against p50 latency per query, one point per candidate depth of a sweep.

    Args:
        rows: `benchmarks.sweep.depth_sweep` rows (those without latency are skipped).
        path: the PNG to write.
        metric: the quality metric on the y axis.
        references: extra labelled points, ``{"label", metric, "p50_ms"}`` (e.g. dense alone, BM25).

    Example:
        >>> rows = [{"depth": 10, "ndcg@10": 0.6, "p50_ms": 30.0}, {"depth": 50, "ndcg@10": 0.65, "p50_ms": 90.0}]
        >>> plot_tradeoff(rows, "/tmp/tradeoff.png").name
        'tradeoff.png'
    """
    plt = pyplot()
    timed = [r for r in rows if r.get("p50_ms") is not None]
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    if timed:
        xs = [r["p50_ms"] for r in timed]
        ys = [r[metric] for r in timed]
        ax.plot(xs, ys, "o-", color="tab:blue", label="dense + rerank (depth)")
        for r, x, y in zip(timed, xs, ys):
            ax.annotate(str(r["depth"]), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    for i, ref in enumerate(r for r in references if r.get("p50_ms") is not None):
        ax.scatter([ref["p50_ms"]], [ref[metric]], marker="s", s=40, color=f"C{i + 1}", label=ref["label"], zorder=3)
    ax.set_xscale("log")
    finish_axes(ax, "p50 latency per query (ms, log scale)", metric, title or f"{metric} against latency")
    return save_figure(fig, plt, path)


def plot_stages(
    stages: Mapping[str, Mapping[str, float]],
    path: str | Path,
    metrics: Sequence[str] = ("ndcg@10", "mrr@10", "recall@100"),
    title: str = "",
) -> Path:
    """Grouped bars: each metric, one bar per stage."""
    import numpy as np

    plt = pyplot()
    names = list(stages)
    metrics = [m for m in metrics if all(m in stages[s] for s in names)]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    width = 0.8 / max(len(names), 1)
    x = np.arange(len(metrics))
    for i, stage in enumerate(names):
        values = [stages[stage][m] for m in metrics]
        bars = ax.bar(x + i * width - 0.4 + width / 2, values, width, label=stage)
        ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=1)
    ax.set_xticks(x, metrics)
    ax.set_ylim(0, 1.05)
    ax.set_title(title or "stages")
    ax.legend(fontsize=8)
    return save_figure(fig, plt, path)
