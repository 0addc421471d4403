"""Train a stage-2 cross-encoder on (query, passage, label) rows whose negatives are stage-1 candidates.

`CrossEncoderTrainer` with `BinaryCrossEntropyLoss` (BCEWithLogitsLoss; one logit) or
`CrossEntropyLoss` (two logits, softmax), on any model or from scratch: a BERT classifier, or the
K-NRM interaction model of `rerank.kernel_model` (what the offline recipe uses). With
``fuse_stage1`` the stage-1 score's weight is then chosen on the validation queries' whole
candidate lists (`rerank.fusion`) and saved with the thresholds.

A `ThresholdEvaluator` scores a validation split carved from the training queries at every
evaluation (loss, AP, accuracy, F1, F-beta, MCC, each at its best threshold); the epoch with the
best AP is kept, and its thresholds are saved beside the model in ``calibration.json``. The whole history goes to ``history.csv``/``history.json``/``history.png``.

CLI (the stage-1 model supplies the candidates; the test split is never read):
    python -m rerank.train --data ../shared/datasets/scifact --encoder models/st --out models/ce \
        --tokenizer ../shared/tokenizers/bert-uncased-wordpiece
    python -m rerank.train --data corpus_dir --encoder models/st --no-labels --out models/ce ...
    python -m rerank.train --data ... --encoder models/st --architecture kernel --init-embeddings models/st \
        --tokenizer models/st-tokenizer --fuse-stage1 --out models/knrm
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rerank.fusion import WeightEvidence
from rerank.train_config import CrossEncoderConfig
from rerank.train_data import CandidateList, Example
from rerank.train_fusion import choose_and_recalibrate

__all__ = ["CrossEncoderResult", "Stage2Data", "main", "stage2_examples", "train_cross_encoder"]


@dataclass(frozen=True)
class Stage2Data:
    """Training rows, validation rows (whole queries held out) and those queries' full candidate lists."""

    train: list[Example]
    validation: list[Example]
    validation_lists: list[CandidateList]


@dataclass(frozen=True)
class CrossEncoderResult:
    """The trained model folder, its calibration (as saved) and the training time."""

    path: Path
    seconds: float
    calibration: dict[str, Any]
    train_rows: int
    validation_rows: int


def _dataset(rows: Sequence[Example], stage1_offset: float = 0.0) -> Any:
    """Columns by order (query, passage[, offset]), then the label."""
    from datasets import Dataset

    columns: dict[str, list] = {"query": [r.query for r in rows], "passage": [r.passage for r in rows]}
    if stage1_offset:
        missing = sum(r.stage1_z is None for r in rows)
        if missing:
            raise ValueError(
                f"{missing} of {len(rows)} training rows have no stage1_z, which residual training "
                "(stage1_offset) needs: build them with stage2_examples or rerank.residual.with_stage1_z"
            )
        columns["offset"] = [stage1_offset * r.stage1_z for r in rows]
    return Dataset.from_dict(columns | {"label": [int(r.label) for r in rows]})


def _optimizer(model: Any, config: CrossEncoderConfig) -> Any:
    """AdamW with the token vectors at `config.embedding_learning_rate`; None lets the trainer build its own.

    The rest learns at the model's rate, with no weight decay on biases, normalisation weights and other
    1-d parameters (the trainer's own rule, extended to the kernel model's k1 and b).
    """
    if config.embedding_learning_rate is None or not config.train_embeddings:
        return None
    import torch

    table = model.model.get_input_embeddings().weight
    groups: dict[str, list] = {"table": [], "decay": [], "no_decay": []}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if param is table:
            groups["table"].append(param)
        elif param.ndim < 2 or "norm" in name.lower() or name.endswith(".bias"):
            groups["no_decay"].append(param)
        else:
            groups["decay"].append(param)
    return torch.optim.AdamW(
        [
            {"params": groups["table"], "lr": config.embedding_learning_rate, "weight_decay": config.weight_decay},
            {"params": groups["decay"], "lr": config.lr, "weight_decay": config.weight_decay},
            {"params": groups["no_decay"], "lr": config.lr, "weight_decay": 0.0},
        ],
        lr=config.lr,
    )


def train_cross_encoder(
    train: Sequence[Example],
    validation: Sequence[Example],
    out_dir: str | Path,
    config: CrossEncoderConfig = CrossEncoderConfig(),
    show_progress: bool = True,
    validation_lists: Sequence[CandidateList] | None = None,
    corpus_texts: Sequence[str] | None = None,
    weight_evidence: Sequence[WeightEvidence] = (),
    sentence_encoder: Any = None,
    titles: Mapping[str, str] | None = None,
) -> CrossEncoderResult:
    """Train, keep the best-AP epoch, save it with ``calibration.json`` and its history.

    Args:
        train: training rows (see `rerank.train_data.build_examples`).
        validation: held-out rows with both labels (see `rerank.train_data.split_by_query`).
        out_dir: the model folder (``CrossEncoder(out_dir)`` loads it).
        config: the recipe.
        validation_lists: the held-out queries' whole stage-1 candidate lists; with
            `config.fuse_stage1` the stage-1 weight is chosen on them (`rerank.fusion`) and the
            thresholds are then fitted on fused scores.
        corpus_texts: the corpus, for a from-scratch kernel model's IDF and average length.
        weight_evidence: more held-out lists to choose the stage-1 weight on (with `config.fuse_stage1`),
            each scored by its own reranker: e.g. cross-validation folds (`rerank.recipe`).
        sentence_encoder: with `config.fuse_sentences`, the stage 1 that made `validation_lists`
            (its best-sentence similarities are fused, `retrieval.sentences`); `weight_evidence`
            must then carry its own stage 1's sentence scores.
        titles: doc id -> title, to split the lists' passages into title and body for the sentences.

    Example:
        >>> result = train_cross_encoder(train_rows, val_rows, "models/ce", CrossEncoderConfig(tokenizer="tok/"))  # doctest: +SKIP
        >>> result.calibration["threshold"]  # doctest: +SKIP
        0.41
    """
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss, CrossEntropyLoss
    from transformers import set_seed

    from rerank.evaluator import ThresholdEvaluator
    from rerank.train_history import write_history
    from rerank.train_init import initial_cross_encoder
    from retrieval.sentences import SentenceScorer

    if not train:
        raise ValueError("no training rows: build them with rerank.train_data.build_examples")
    if config.fuse_sentences and config.fuse_stage1 and validation_lists and sentence_encoder is None:
        raise ValueError(
            "fuse_sentences needs the stage-1 encoder that made validation_lists: pass sentence_encoder=encoder"
        )
    start = time.perf_counter()
    out_dir = Path(out_dir)
    work_dir = out_dir.parent / f".{out_dir.name}.work"
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    set_seed(config.seed)
    model = initial_cross_encoder(config, work_dir, corpus_texts)
    evaluator = ThresholdEvaluator(
        [(r.query, r.passage) for r in validation], [r.label for r in validation], beta=config.beta, name="val",
        batch_size=max(config.batch_size, 64), offsets=_validation_offsets(validation, config),
    )
    if config.stage1_offset:
        from rerank.residual import ResidualBCELoss

        loss = ResidualBCELoss(model)
    else:
        loss = BinaryCrossEntropyLoss(model) if config.num_labels == 1 else CrossEntropyLoss(model)
    strategy = "steps" if config.eval_steps else "epoch"
    args = CrossEncoderTrainingArguments(
        output_dir=str(work_dir / "trainer"),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.lr,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a share of the steps (transformers v5)
        weight_decay=config.weight_decay,
        seed=config.seed,
        data_seed=config.seed,
        eval_strategy=strategy,
        save_strategy=strategy,
        eval_steps=config.eval_steps,
        save_steps=config.eval_steps,
        load_best_model_at_end=True,
        metric_for_best_model="eval_val_ap",
        greater_is_better=True,
        save_only_model=True,
        save_total_limit=2,
        report_to="none",
        logging_steps=max(1, len(train) // config.batch_size // 10),
        disable_tqdm=not show_progress,
        use_cpu=True,
        dataloader_num_workers=0,
    )
    trainer = CrossEncoderTrainer(
        model=model, args=args, train_dataset=_dataset(train, config.stage1_offset), loss=loss, evaluator=evaluator,
        optimizers=(_optimizer(model, config), None),
    )
    if not show_progress:
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    trainer.train()

    best = evaluator.best()
    if trainer.state.best_metric is not None and abs(trainer.state.best_metric - best["ap"]) > 1e-9:
        raise RuntimeError(
            f"the trainer kept AP {trainer.state.best_metric}, the evaluator's best is {best['ap']}: "
            "the calibration would not match the saved weights"
        )
    model.save(str(out_dir))
    metric_keys = ("f1", "accuracy", "fbeta", "mcc")
    thresholds = {("f%g" % config.beta if k == "fbeta" else k): float(best[f"{k}_threshold"]) for k in metric_keys}
    calibration = {
        "threshold": float(best["f1_threshold"]),
        "metric": "f1",
        "thresholds": thresholds,
        "epoch": best["epoch"],
        "step": best["step"],
        "activation": evaluator.activation,
        "validation": {k: float(best[k]) for k in ("ap", "f1", "fbeta", "mcc", "accuracy", "loss")},
        "beta": config.beta,
        "stage1_weight": 0.0,
    }
    if evaluator.offsets is not None:
        # The epoch was chosen on logit + offset; the saved thresholds are for what the model outputs
        # alone (a fused Searcher's are refitted below on fused scores).
        calibration.update(_text_thresholds(model, validation, config))
        calibration["validation_scored"] = "logit + stage1_offset * stage1_z"
    if config.fuse_stage1 and validation_lists:
        sentences = SentenceScorer(sentence_encoder) if config.fuse_sentences else None
        calibration.update(
            choose_and_recalibrate(model, validation, validation_lists, config, weight_evidence, sentences, titles)
        )
    (out_dir / "calibration.json").write_text(json.dumps(calibration, indent=2))
    config.save(out_dir / "train_config.json")
    train_loss = [
        {"epoch": float(r["epoch"]), "step": int(r["step"]), "loss": float(r["loss"])}
        for r in trainer.state.log_history
        if "loss" in r
    ]
    write_history(evaluator.history, train_loss, out_dir, best["epoch"])
    seconds = time.perf_counter() - start
    summary = {"seconds": seconds, "train_rows": len(train), "validation_rows": len(validation), "best": best}
    (out_dir / "train_summary.json").write_text(json.dumps(summary, indent=2))
    shutil.rmtree(work_dir, ignore_errors=True)
    return CrossEncoderResult(out_dir, seconds, calibration, len(train), len(validation))


def _validation_offsets(validation: Sequence[Example], config: CrossEncoderConfig) -> list[float] | None:
    """The validation rows' stage-1 offsets, when a residual reranker is validated as it is trained."""
    if not (config.stage1_offset and config.validate_residual):
        return None
    missing = sum(r.stage1_z is None for r in validation)
    if missing:
        raise ValueError(
            f"{missing} of {len(validation)} validation rows have no stage1_z, which validate_residual needs "
            "(score them with an honest stage 1: stage2_examples does, or rerank.residual.with_stage1_z), "
            "or set validate_residual=False to choose the epoch on the text alone"
        )
    return [config.stage1_offset * r.stage1_z for r in validation]


def _text_thresholds(model: Any, validation: Sequence[Example], config: CrossEncoderConfig) -> dict[str, Any]:
    """The thresholds of the model's own probabilities (no offset) on the validation rows."""
    from rerank.evaluator import probabilities, threshold_metrics
    from rerank.train_fusion import raw_logits

    probs, _ = probabilities(raw_logits(model, [(r.query, r.passage) for r in validation], max(config.batch_size, 64)))
    m = threshold_metrics([r.label for r in validation], probs, beta=config.beta)
    return {"threshold": float(m.f1_threshold), "thresholds": {k: float(v) for k, v in m.thresholds().items()}}


def stage2_examples(
    docs: Sequence[Any],
    encoder: Any,
    index: Any,
    config: CrossEncoderConfig,
    train_queries: dict[str, str] | None = None,
    train_qrels: dict[str, dict[str, int]] | None = None,
    pseudo_per_doc: int = 1,
    pseudo_limit: int | None = None,
    held_out: Collection[str] | None = None,
    exclude_anchors: Collection[str] = (),
    pseudo_with_labels: int = 0,
    stage1_scorers: Sequence[tuple[Collection[str], Any]] | None = None,
) -> Stage2Data:
    """Training and validation rows: labelled queries when given, else pseudo-queries from the corpus,
    each with negatives from its stage-1 candidates; plus the validation queries' candidate lists.

    Args:
        held_out: the labelled queries to validate on (by default a seeded share); pass the ones
            stage 1 was not trained on, so that their stage-1 scores are honest ones.
        exclude_anchors: pseudo-query texts not to use (the anchors stage 1 was trained on).
        pseudo_with_labels: with labels, also train on up to this many pseudo-queries (validation
            stays the labelled held-out queries).
        stage1_scorers: with `config.stage1_offset` and labels, (query ids, stage-1 encoder) groups,
            each encoder one that did not train on its queries (`rerank.recipe` cross-fits them).

    With `config.stage1_offset` the training rows get standardised stage-1 scores of their own text
    (`rerank.residual.with_stage1_z`), from `encoder`, or from their query's `stage1_scorers` group.
    `encoder` gives honest offsets for pseudo-queries stage 1 did not train on, and for labelled
    queries it never saw; not for labelled queries it trained on (it ranks their positives first and
    leaves the residual nothing to learn): pass `stage1_scorers` for those.
    """
    from retrieval.encoder import document_text
    from rerank.residual import with_stage1_z
    from rerank.train_data import (
        build_examples, candidate_lists, pseudo_queries, rescore_lists, split_by_query, stage1_ranked,
    )

    positives = None
    if train_qrels:
        if train_queries is None:
            raise ValueError("train_qrels were given without train_queries")
        queries, qrels = dict(train_queries), dict(train_qrels)
    else:
        # seed + 1: another draw than stage 1's corpus pairs (drawn with `seed`), so fewer are excluded.
        queries, qrels, positives = pseudo_queries(
            docs, pseudo_per_doc, seed=config.seed + 1, limit=pseudo_limit, exclude=exclude_anchors
        )
    texts = {d.doc_id: document_text(d) for d in docs}

    def rows_of(queries: dict[str, str], qrels: dict, positives: dict | None) -> tuple[list[Example], dict]:
        ranked = stage1_ranked(encoder, index, queries, config.depth)
        candidates = {q: [d for d, _ in hits][: config.negative_depth] for q, hits in ranked.items()}
        rows = build_examples(
            queries, qrels, candidates, texts, config.negatives_per_query, config.hard_first, config.skip_top,
            config.seed, positives,
        )
        return rows, ranked

    rows, ranked = rows_of(queries, qrels, positives)
    train, validation = split_by_query(rows, config.validation_fraction, config.seed, held_out if train_qrels else None)
    if config.stage1_offset:
        train = _residual_rows(train, docs, encoder, ranked, stage1_scorers, config.depth)
    if config.stage1_offset and config.validate_residual:
        # Validation queries are ones `encoder` did not train on (labelled: `held_out`; else sentences
        # it never saw), so its scores of them are honest offsets.
        validation = with_stage1_z(validation, encoder, [[s for _, s in hits] for hits in ranked.values()])
    held = sorted({r.query_id for r in validation})
    lists = candidate_lists(held, queries, qrels, ranked, texts, positives)
    if positives:  # stage 1 scored the indexed document, sentence included; score what the reranker sees
        lists = rescore_lists(lists, encoder, set(positives))
    if train_qrels and pseudo_with_labels > 0:
        # Built apart, so that the labelled rows and their split are the same with or without them.
        extra, extra_qrels, extra_positives = pseudo_queries(
            docs, pseudo_per_doc, seed=config.seed + 1, limit=pseudo_with_labels, exclude=exclude_anchors
        )
        more, more_ranked = rows_of(extra, extra_qrels, extra_positives)
        if config.stage1_offset:
            more = with_stage1_z(more, encoder, [[s for _, s in hits] for hits in more_ranked.values()])
        train = train + more
    return Stage2Data(train, validation, lists)


def _residual_rows(
    rows: list[Example], docs: Sequence[Any], encoder: Any, ranked: dict[str, list[tuple[str, float]]],
    scorers: Sequence[tuple[Collection[str], Any]] | None, depth: int,
) -> list[Example]:
    """`rows` with their stage-1 z-scores, each from its query's scorer (or `encoder` when there are none).

    A scorer's scale is its own: its scores are standardised over its own candidate lists of its queries.
    """
    from retrieval.indexing import build_index
    from rerank.residual import with_stage1_z
    from rerank.train_data import stage1_ranked

    if scorers is None:
        return with_stage1_z(rows, encoder, [[s for _, s in hits] for hits in ranked.values()])
    owner = {q: k for k, (query_ids, _) in enumerate(scorers) for q in query_ids}
    unscored = sorted({r.query_id for r in rows} - set(owner))
    if unscored:
        raise ValueError(f"{len(unscored)} training queries (e.g. {unscored[0]!r}) are in no stage1_scorers group")
    scored: dict[int, Example] = {}
    for k, (_, scorer) in enumerate(scorers):
        mine = [i for i, r in enumerate(rows) if owner[r.query_id] == k]
        if not mine:
            continue
        queries = {rows[i].query_id: rows[i].query for i in mine}
        own = stage1_ranked(scorer, build_index(docs, scorer, show_progress=False), queries, depth)
        z = with_stage1_z([rows[i] for i in mine], scorer, [[s for _, s in hits] for hits in own.values()])
        scored.update(zip(mine, z))
    return [scored[i] for i in range(len(rows))]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rerank.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="a BEIR folder (corpus.jsonl, queries.jsonl, qrels/) or a corpus file")
    p.add_argument("--encoder", required=True, help="the stage-1 sentence-transformers model that supplies candidates")
    p.add_argument("--out", required=True, help="the cross-encoder folder to write")
    p.add_argument("--split", default="train", help="the labelled split (default train; never test)")
    p.add_argument("--no-labels", action="store_true", help="pseudo-queries from the corpus, even where qrels exist")
    p.add_argument("--config", help="a JSON file of CrossEncoderConfig fields; flags below override it")
    p.add_argument("--model", help="a cross-encoder or Hugging Face model to fine-tune (default: from scratch)")
    p.add_argument("--architecture", choices=["bert", "kernel"], help="from scratch: a BERT classifier or K-NRM")
    p.add_argument("--tokenizer", help="from scratch: the tokenizer folder")
    p.add_argument("--init-embeddings", help="from scratch: a StaticEmbedding model (same tokenizer) to copy vectors from")
    p.add_argument("--num-labels", type=int, choices=[1, 2])
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--embedding-learning-rate", type=float, help="the token vectors' own rate (with train_embeddings)")
    p.add_argument("--max-length", type=int)
    p.add_argument("--negatives", type=int, dest="negatives_per_query")
    p.add_argument("--depth", type=int)
    p.add_argument("--negative-depth", type=int, dest="negative_depth", help="draw negatives from this many top candidates")
    p.add_argument("--fuse-stage1", action="store_true", dest="fuse_stage1",
                   help="choose a stage-1 score weight on the validation queries (they should be unseen by --encoder)")
    p.add_argument("--fuse-sentences", action="store_true", dest="fuse_sentences",
                   help="with --fuse-stage1, also weigh --encoder's best similarity to any one sentence of a candidate")
    p.add_argument("--stage1-offset", type=float, dest="stage1_offset",
                   help="train as a residual of stage 1 (rerank.residual); --encoder should not have trained on the labelled queries")
    p.add_argument("--bigrams", action="store_true", help="from scratch, kernel: also match adjacent token pairs")
    p.add_argument("--term-hidden", type=int, dest="term_hidden",
                   help="from scratch, kernel: width of a small network scoring each query term (0: off)")
    p.add_argument("--beta", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from indexes import read_corpus
    from retrieval.encoder import Encoder, document_text
    from retrieval.indexing import build_index
    from retrieval.train import BULK_ENCODING
    from retrieval.train_data import read_train_split

    config = CrossEncoderConfig.load(args.config) if args.config else CrossEncoderConfig()
    names = ("model", "architecture", "tokenizer", "init_embeddings", "num_labels", "epochs", "batch_size",
             "learning_rate", "embedding_learning_rate", "max_length", "negatives_per_query", "depth", "negative_depth", "stage1_offset", "term_hidden", "beta", "seed")
    config = config.replace(**{n: getattr(args, n) for n in names if getattr(args, n) is not None})
    if args.fuse_stage1:
        config = config.replace(fuse_stage1=True)
    if args.fuse_sentences:
        config = config.replace(fuse_sentences=True)
    if args.bigrams:
        config = config.replace(bigrams=True)
    queries = qrels = None
    if Path(args.data).is_dir() and not args.no_labels:
        queries, qrels = read_train_split(args.data, args.split)
    docs = read_corpus(args.data)
    encoder = Encoder.load(args.encoder, device="cpu", batch_size=128, **BULK_ENCODING)
    index = build_index(docs, encoder, show_progress=not args.quiet)
    data = stage2_examples(docs, encoder, index, config, queries, qrels)
    result = train_cross_encoder(
        data.train, data.validation, args.out, config, show_progress=not args.quiet,
        validation_lists=data.validation_lists, corpus_texts=[document_text(d) for d in docs],
        sentence_encoder=encoder, titles={d.doc_id: d.title for d in docs},
    )
    print(json.dumps({"path": str(result.path), "seconds": round(result.seconds, 1), "calibration": result.calibration}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
