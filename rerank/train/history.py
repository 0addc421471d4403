"""Write a cross-encoder's training history: every evaluation's metrics and thresholds, and the loss curve."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["plot_history", "write_history"]


def write_history(
    evaluations: Sequence[dict[str, Any]], train_loss: Sequence[dict[str, Any]], out_dir: str | Path, best_epoch: float | None
) -> list[Path]:
    """`history.csv` (one row per evaluation, every metric with its threshold), `history.json`, `history.png`.

    Example:
        >>> write_history(evaluator.history, losses, "models/ce", best_epoch=2.0)  # doctest: +SKIP
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "history.csv", out_dir / "history.json", out_dir / "history.png"]
    if evaluations:
        columns = list(evaluations[0])
        with open(paths[0], "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(evaluations)
    else:
        paths[0].write_text("")
    paths[1].write_text(
        json.dumps({"evaluations": list(evaluations), "train_loss": list(train_loss), "best_epoch": best_epoch}, indent=2)
    )
    plot_history(evaluations, train_loss, paths[2], best_epoch)
    return paths


def plot_history(
    evaluations: Sequence[dict[str, Any]], train_loss: Sequence[dict[str, Any]], path: str | Path, best_epoch: float | None
) -> Path:
    """Loss curves (train and validation) beside validation AP/F1/MCC and their thresholds, per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_metric, ax_thr) = plt.subplots(1, 3, figsize=(15, 4))
    if train_loss:
        ax_loss.plot([r["epoch"] for r in train_loss], [r["loss"] for r in train_loss], label="train loss", alpha=0.7)
    epochs = [r["epoch"] for r in evaluations]
    if evaluations:
        ax_loss.plot(epochs, [r["loss"] for r in evaluations], "o-", label="validation loss")
        for key in ("ap", "f1", "fbeta", "mcc", "accuracy"):
            ax_metric.plot(epochs, [r[key] for r in evaluations], "o-", label=key)
        for key in ("f1_threshold", "fbeta_threshold", "mcc_threshold", "accuracy_threshold"):
            ax_thr.plot(epochs, [r[key] for r in evaluations], "o-", label=key)
    for ax, title in ((ax_loss, "loss"), (ax_metric, "validation metrics (each at its best threshold)"), (ax_thr, "best thresholds")):
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", linestyle="--", linewidth=1, label="chosen epoch (best AP)")
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
