"""Test collections: BEIR folders, the hub loaders, and the one resolver the harness calls.

`load_dataset(name, data_dir)` looks, in order, at a BEIR folder given by path, the folder
``<data_dir>/<name>``, the hub (only when reachable), and for ``msmarco`` at the offline
fallbacks described in `benchmarks.msmarco`. When nothing is found it raises
`DatasetNotFoundError` saying where it looked and how to provide the data. The `Dataset` type and
the BEIR folder reader live in `benchmarks.collection` and are importable from here too.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from benchmarks.collection import Dataset, DatasetNotFoundError, load_beir, sample_queries
from benchmarks.hub import hub_reachable
from benchmarks.msmarco import load_msmarco

__all__ = ["Dataset", "DatasetNotFoundError", "HUB_BEIR", "load_beir", "load_beir_hub", "load_dataset", "sample_queries"]

# Named BEIR collections and their hub ids (corpus/queries, then qrels).
HUB_BEIR = {"scifact": ("BeIR/scifact", "BeIR/scifact-qrels")}


def load_beir_hub(name: str, split: str = "test", cache_dir: str | Path | None = None) -> Dataset:
    """Download a BEIR collection's files from the hub (``BeIR/<name>``, ``BeIR/<name>-qrels``).

    The files are unpacked once into a BEIR folder under `cache_dir` (default
    ``~/.cache/twostage/beir/<name>``) and read from there like any local copy.
    """
    import gzip
    import shutil

    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    corpus_id, qrels_id = HUB_BEIR[name]
    folder = Path(cache_dir or Path.home() / ".cache" / "twostage" / "beir") / name
    if not (_is_beir(folder) and (folder / "corpus.jsonl").exists()):
        tmp = folder.with_name(f".{name}.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "qrels").mkdir(parents=True)
        for remote, local in (("corpus.jsonl.gz", "corpus.jsonl"), ("queries.jsonl.gz", "queries.jsonl")):
            with gzip.open(hf_hub_download(corpus_id, remote, repo_type="dataset"), "rb") as src:
                with open(tmp / local, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        for part in ("train", "dev", "test"):
            try:
                shutil.copy(hf_hub_download(qrels_id, f"{part}.tsv", repo_type="dataset"), tmp / "qrels" / f"{part}.tsv")
            except EntryNotFoundError:
                continue
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    return replace(load_beir(folder, split, name=name), source=f"hub:{corpus_id} (unpacked in {folder})")


def _is_beir(folder: Path) -> bool:
    return folder.is_dir() and (folder / "queries.jsonl").exists() and (folder / "qrels").is_dir()


def load_dataset(
    name: str,
    data_dir: str | Path,
    split: str = "test",
    *,
    max_queries: int | None = None,
    pool_size: int = 100_000,
    seed: int = 0,
    online: bool | None = None,
) -> Dataset:
    """Find and load a test collection by name or path.

    Args:
        name: ``scifact``, ``msmarco``, ``msmarco-dl19-mini``, the name of a BEIR folder under
            `data_dir`, or the path of any BEIR folder.
        data_dir: the folder holding local copies (``<data_dir>/scifact/``, ``<data_dir>/msmarco-passage/``...).
        split: the qrels split to score.
        max_queries: score a seeded sample of this many judged queries (None: all).
        pool_size: MS MARCO subset mode: how many sampled distractor passages join the judged ones.
        seed: the seed of every sample.
        online: whether the hub may be used; None checks quickly (HF_*_OFFLINE, a 2-second connect).

    Example:
        >>> load_dataset("scifact", "../shared/datasets").describe()  # doctest: +SKIP
        'scifact (test): 5,183 documents, 300 queries, 339 judgements'
    """
    data_dir = Path(data_dir)
    looked: list[str] = []
    path = Path(name)
    dataset = None
    if _is_beir(path):
        dataset = load_beir(path, split)
    elif _is_beir(data_dir / name) and name != "msmarco":
        level = 2 if name == "msmarco-dl19-mini" else 1
        dataset = load_beir(data_dir / name, split, name=name, relevance_level=level)
    else:
        looked.append(f"{path} (not a BEIR folder)" if path.exists() else f"{data_dir / name} (missing)")
    if dataset is None and name == "msmarco":
        dataset = load_msmarco(data_dir, pool_size=pool_size, seed=seed, online=online, looked=looked)
    if dataset is None and name in HUB_BEIR:
        if online if online is not None else hub_reachable():
            dataset = load_beir_hub(name, split)
        else:
            looked.append(f"the hub ({HUB_BEIR[name][0]}): offline (HF_*_OFFLINE set, or huggingface.co unreachable)")
    if dataset is None:
        raise DatasetNotFoundError(
            f"dataset {name!r} not found. Looked at: {'; '.join(looked)}. Provide it as a BEIR folder "
            f"(corpus.jsonl, queries.jsonl, qrels/{split}.tsv) at {data_dir / name} or pass its path, or set "
            "--data-dir (default: $TWOSTAGE_DATA_DIR or ./data) to the folder holding it; online, scifact downloads "
            "from the hub (BeIR/scifact) and msmarco through ir_datasets or datasets."
        )
    return sample_queries(dataset, max_queries, seed)
