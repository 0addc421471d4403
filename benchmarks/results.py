"""A run's results folder: what it was, what it ran on, what it found.

    <out>/config.json, config.toml   the resolved configuration (re-run with --config config.toml)
    <out>/environment.json           library versions, CPU/GPU, threads, matmul GFLOP/s
    <out>/runs/<stage>.trec          one TREC run file per stage ("dense+rerank" -> dense-rerank.trec)
    <out>/metrics.json               {"dataset", "stages": {stage: {metric: value}}, "sweep": [...], ...}
    <out>/sweep.csv                  the depth sweep as a table
    <out>/report.md                  the tables, significance marks, references, choices
    <out>/tradeoff.png, stages.png   quality against latency; the stages side by side
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from benchmarks.config import BenchmarkConfig, to_toml

__all__ = ["load_metrics", "run_file_name", "write_results"]


def run_file_name(stage: str) -> str:
    """The TREC run file of a stage: ``dense+rerank`` -> ``dense-rerank.trec``."""
    return stage.replace("+", "-") + ".trec"


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _dump(data: Any, path: Path) -> None:
    path.write_text(json.dumps(data, indent=2, default=_json_default) + "\n", encoding="utf-8")


def write_results(
    out_dir: str | Path,
    config: BenchmarkConfig,
    result: dict[str, Any],
    runs: Mapping[str, Mapping[str, Mapping[str, float]]],
    log: Callable[[str], None] = lambda _: None,
    measure_peak: bool = True,
) -> Path:
    """Write every file of a results folder and return the folder."""
    from benchmarks.environment import environment
    from benchmarks.plots import plot_stages, plot_tradeoff
    from benchmarks.report import render_report
    from benchmarks.trec import write_run

    out = Path(out_dir)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    _dump(config.to_dict(), out / "config.json")
    (out / "config.toml").write_text(to_toml(config.to_dict()), encoding="utf-8")
    env = environment(measure_peak=measure_peak)
    _dump(env, out / "environment.json")
    for stage, run in runs.items():
        write_run(run, out / "runs" / run_file_name(stage), tag=stage)
    plots = []
    if result["stages"]:
        plots.append(plot_stages(result["stages"], out / "stages.png", title=f"{result['dataset']}: stages").name)
    if result["sweep"]:
        refs = [
            {"label": s if s == "hybrid" else f"{s} alone", "ndcg@10": result["stages"][s]["ndcg@10"], **result["latency"][s]}
            for s in ("dense-pretrained", "dense", "bm25", "hybrid")
            if s in result["stages"] and s in result["latency"] and "ndcg@10" in result["stages"][s]
        ]
        plots.append(
            plot_tradeoff(result["sweep"], out / "tradeoff.png", references=refs, title=f"{result['dataset']}: depth sweep").name
        )
        with open(out / "sweep.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(result["sweep"][0]))
            writer.writeheader()
            writer.writerows(result["sweep"])
    result = {**result, "plots": plots, "environment": "environment.json"}
    _dump(result, out / "metrics.json")
    (out / "report.md").write_text(render_report(result, config, env), encoding="utf-8")
    log(f"[benchmarks] results in {out}")
    return out


def load_metrics(out_dir: str | Path) -> dict[str, Any]:
    """Read a results folder's metrics.json (for notebooks and other tools)."""
    path = Path(out_dir) / "metrics.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {out_dir} a results folder of `python -m benchmarks.run`?")
    return json.loads(path.read_text(encoding="utf-8"))
