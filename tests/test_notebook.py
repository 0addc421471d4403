"""notebooks/stage_tradeoffs.ipynb runs end to end on SciFact (a 50-query sample), so it cannot rot.

The models are small ones built here from the shared tokenizer with random weights (the notebook's
default, training both stages from scratch, takes minutes more than a test may): this checks the
notebook's mechanics on real data, not the models' quality.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "stage_tradeoffs.ipynb"
FIGURES = ("recall_curve", "depth_quality", "depth_latency", "pareto", "query_deltas", "cutoff")


def _with_parameters(nb, values: dict) -> None:
    """Insert a cell setting `values` right after the cell tagged ``parameters`` (as papermill does)."""
    from nbformat.v4 import new_code_cell

    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    source = "\n".join(f"{name} = {value!r}" for name, value in values.items())
    nb.cells.insert(at + 1, new_code_cell(source, metadata={"tags": ["injected-parameters"]}))


def _make_notebook():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_notebook", REPO / "notebooks" / "make_notebook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_notebook_is_the_generated_one_without_outputs(tmp_path):
    import nbformat

    make = _make_notebook()
    assert make.main(["--check"]) == 0, "run python notebooks/make_notebook.py"
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert nb.metadata.kernelspec.name == "python3"
    assert ["parameters"] == code[0].metadata.get("tags")
    # --check notices a stale notebook
    stale = tmp_path / "stale.ipynb"
    stale.write_text(NOTEBOOK.read_text().replace("scifact", "nfcorpus"))
    assert make.main(["--check", "--out", str(stale)]) == 1


def test_notebook_runs_on_scifact(shared_dir, tokenizer_dir, static_encoder_path, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    from rerank.train.scratch import random_cross_encoder

    scifact = shared_dir / "datasets" / "scifact"
    if not (scifact / "corpus.jsonl").exists():
        pytest.skip(f"{scifact} not found")
    reranker = random_cross_encoder(tokenizer_dir, tmp_path / "reranker", max_length=64)
    out = tmp_path / "figures"
    nb = nbformat.read(NOTEBOOK, as_version=4)
    _with_parameters(
        nb,
        {
            "DATA_DIR": str(shared_dir / "datasets"),
            "DATASET": "scifact",
            "ENCODER": str(static_encoder_path),
            "RERANKER": str(reranker),
            "DEPTHS": (10, 20, 50),
            "RETRIEVAL_DEPTH": 100,
            "MAX_QUERIES": 50,
            "LATENCY_QUERIES": 4,
            "CACHE_DIR": str(tmp_path / "cache"),
            "OUT_DIR": str(out),
        },
    )
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()

    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    for name in FIGURES:
        png = out / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert images == len(FIGURES)

    tables = json.loads((out / "tradeoffs.json").read_text())
    assert tables["settings"]["depths"] == [10, 20, 50] and tables["settings"]["depth"] == 50
    assert [r["depth"] for r in tables["sweep"]] == [10, 20, 50]
    recall = [r["recall"] for r in tables["recall_curve"]]
    assert recall == sorted(recall) and tables["recall_curve"][-1]["k"] == 100
    ceiling = {r["depth"]: r["ceiling_recall"] for r in tables["sweep"]}
    assert ceiling == {r["k"]: r["recall"] for r in tables["recall_curve"] if r["k"] in ceiling}
    assert len(tables["query_deltas"]) == 50
    summary = tables["delta_summary"]
    assert summary["wins"] + summary["losses"] + summary["ties"] == 50
    assert tables["cutoff"][0]["kept_fraction"] == 1.0 and tables["cutoff"][0]["hits"] == 50 * 10
    assert tables["cutoff_at_threshold"] is None  # a random-weight reranker has no calibration
    assert any(r["pareto"] for r in tables["pareto"])
    closing = nb.cells[-1].outputs[0]["data"]["text/markdown"]
    print(closing)  # what each figure shows for this run (visible with pytest -s)
    assert "Stage-1 recall@k" in closing and "Pareto front" in closing and "wins" in closing
