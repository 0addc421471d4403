"""MS MARCO passage dev "small", whole or as a subset, and the offline TREC DL 2019 mini corpus.

The full collection has 8.8M passages, more than a CPU machine can encode in a benchmark run.
Subset mode keeps every judged passage of dev small plus `pool_size` distractors sampled
uniformly (reservoir sampling, seeded) from the rest, and says so in the dataset's notes: scores
on a subset run higher than on the full collection and compare only with each other.

Sources, in the order `load_msmarco` tries them:
1. a collection the user supplies: ``<data_dir>/msmarco-passage/collection.tsv`` (``pid<TAB>text``)
   beside ``topics.msmarco-passage.dev-subset.txt`` and ``qrels.msmarco-passage.dev-subset.txt``;
2. online: ``ir_datasets`` (``msmarco-passage/dev/small``), else ``datasets`` (``BeIR/msmarco``);
3. offline: ``<data_dir>/msmarco-dl19-mini`` (BEIR folder, TREC DL 2019 queries, graded qrels).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from pathlib import Path

from benchmarks.collection import Dataset, load_beir
from benchmarks.hub import hub_offline, hub_reachable
from benchmarks.trec import read_trec_qrels, read_trec_topics
from indexes import Document

__all__ = ["DEV_QRELS", "DEV_TOPICS", "load_msmarco", "read_collection_tsv", "subset_corpus"]

DEV_TOPICS = "topics.msmarco-passage.dev-subset.txt"
DEV_QRELS = "qrels.msmarco-passage.dev-subset.txt"
_DL19_NOTE = (
    "offline fallback: the TREC DL 2019 mini corpus (5,000 passages holding every judged passage of the 43 "
    "judged DL19 queries); absolute scores run higher than on the full collection"
)


def read_collection_tsv(path: str | Path) -> Iterator[tuple[str, str]]:
    """Stream ``pid<TAB>passage`` lines of an MS MARCO collection file."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            pid, sep, text = line.rstrip("\n").partition("\t")
            if not sep:
                raise ValueError(f"{path}:{number}: expected 'pid<TAB>passage'")
            yield pid, text


def subset_corpus(
    passages: Iterable[tuple[str, str]],
    judged: set[str],
    pool_size: int,
    seed: int = 0,
    total: int | None = None,
) -> tuple[list[Document], int]:
    """Every judged passage plus `pool_size` others sampled uniformly (seeded reservoir sampling).

    Returns the documents (judged first, then the sample in collection order) and how many
    passages were read.

    Example:
        >>> docs, seen = subset_corpus([(str(i), f"p{i}") for i in range(100)], {"3"}, pool_size=5)
        >>> len(docs), docs[0].doc_id, seen
        (6, '3', 100)
    """
    from tqdm.auto import tqdm

    rng = random.Random(seed)
    kept: dict[str, Document] = {}
    reservoir: list[tuple[int, str, str]] = []
    seen = others = 0
    for pid, text in tqdm(passages, total=total, desc="msmarco subset", unit="passage", mininterval=2):
        seen += 1
        if pid in judged:
            kept[pid] = Document(pid, text)
            continue
        others += 1
        if len(reservoir) < pool_size:
            reservoir.append((seen, pid, text))
        else:
            slot = rng.randrange(others)
            if slot < pool_size:
                reservoir[slot] = (seen, pid, text)
    missing = judged - kept.keys()
    if missing:
        raise ValueError(f"{len(missing)} judged passages are not in the collection (e.g. {sorted(missing)[:3]})")
    sample = [Document(pid, text) for _, pid, text in sorted(reservoir)]
    return [kept[pid] for pid in sorted(kept)] + sample, seen


def _subset_dataset(
    passages: Iterable[tuple[str, str]],
    topics: dict[str, str],
    qrels: dict[str, dict[str, int]],
    pool_size: int,
    seed: int,
    source: str,
    total: int | None = None,
) -> Dataset:
    judged = {doc for docs in qrels.values() for doc in docs}
    corpus, seen = subset_corpus(passages, judged, pool_size, seed, total)
    note = (
        f"subset mode: {len(judged):,} judged passages + {len(corpus) - len(judged):,} distractors sampled "
        f"(seed {seed}) from {seen:,} passages; scores are higher than on the full collection"
    )
    queries = {qid: topics[qid] for qid in qrels if qid in topics}
    qrels = {qid: qrels[qid] for qid in queries}
    return Dataset("msmarco", corpus, queries, qrels, "dev", source, 1, (note,))


def _from_ir_datasets(pool_size: int, seed: int) -> Dataset:
    import ir_datasets

    ds = ir_datasets.load("msmarco-passage/dev/small")
    topics = {q.query_id: q.text for q in ds.queries_iter()}
    qrels: dict[str, dict[str, int]] = {}
    for q in ds.qrels_iter():
        qrels.setdefault(q.query_id, {})[q.doc_id] = int(q.relevance)
    passages = ((d.doc_id, d.text) for d in ds.docs_iter())
    return _subset_dataset(passages, topics, qrels, pool_size, seed, "ir_datasets:msmarco-passage/dev/small", ds.docs_count())


def _from_hf_datasets(pool_size: int, seed: int) -> Dataset:
    import datasets

    corpus = datasets.load_dataset("BeIR/msmarco", "corpus", split="corpus", streaming=True)
    topics = {str(r["_id"]): r["text"] for r in datasets.load_dataset("BeIR/msmarco", "queries", split="queries")}
    qrels: dict[str, dict[str, int]] = {}
    for row in datasets.load_dataset("BeIR/msmarco-qrels", split="validation"):
        qrels.setdefault(str(row["query-id"]), {})[str(row["corpus-id"])] = int(row["score"])
    passages = ((str(r["_id"]), r["text"]) for r in corpus)
    return _subset_dataset(passages, topics, qrels, pool_size, seed, "hub:BeIR/msmarco (dev)", 8_841_823)


def load_msmarco(
    data_dir: str | Path,
    pool_size: int = 100_000,
    seed: int = 0,
    online: bool | None = None,
    looked: list[str] | None = None,
) -> Dataset | None:
    """MS MARCO passage dev small (subset mode), or offline the DL19 mini corpus; None if neither.

    Every place tried is appended to `looked`, for the caller's error message.
    """
    looked = looked if looked is not None else []
    local = Path(data_dir) / "msmarco-passage"
    collection = local / "collection.tsv"
    if collection.exists():
        for name in (DEV_TOPICS, DEV_QRELS):
            if not (local / name).exists():
                raise FileNotFoundError(f"{collection} is there but {local / name} is not; put dev-small topics and qrels beside it")
        return _subset_dataset(
            read_collection_tsv(collection),
            read_trec_topics(local / DEV_TOPICS),
            read_trec_qrels(local / DEV_QRELS),
            pool_size,
            seed,
            str(collection),
        )
    looked.append(f"{collection} (missing)")
    if online if online is not None else hub_reachable():
        try:
            import ir_datasets  # noqa: F401
        except ImportError:
            return _from_hf_datasets(pool_size, seed)
        return _from_ir_datasets(pool_size, seed)
    looked.append("ir_datasets / the hub: offline" + (" (HF_*_OFFLINE set)" if hub_offline() else ""))
    mini = Path(data_dir) / "msmarco-dl19-mini"
    if (mini / "queries.jsonl").exists():
        dataset = load_beir(mini, "test", name="msmarco", relevance_level=2)
        return Dataset(
            "msmarco", dataset.corpus, dataset.queries, dataset.qrels, "dl19", str(mini), 2, (_DL19_NOTE,)
        )
    looked.append(f"{mini} (missing)")
    return None
