"""Train a stage-2 cross-encoder on (query, passage, label) rows whose negatives are stage-1 candidates.

`CrossEncoderTrainer` with `BinaryCrossEntropyLoss` (BCEWithLogitsLoss; one logit) or
`CrossEntropyLoss` (two logits, softmax), on any model or from scratch: a BERT classifier, or the
K-NRM interaction model of `rerank.kernel_model` (what the offline recipe uses). With
``fuse_stage1`` the stage-1 score's weight is then chosen on the validation queries' whole
candidate lists (`rerank.train.stage1_weight`) and saved with the thresholds.

A `ThresholdEvaluator` scores a validation split carved from the training queries at every
evaluation (loss, AP, accuracy, F1, F-beta, MCC, each at its best threshold); the epoch with the
best AP is kept, and its thresholds are saved beside the model in ``calibration.json``. The whole
history goes to ``history.csv``/``history.json``/``history.png``.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rerank.train.config import CrossEncoderConfig
from rerank.train.data import CandidateList, Example
from rerank.train.fusion import choose_and_recalibrate
from rerank.train.stage1_weight import WeightEvidence
from retrieval.progress import quiet_progress

__all__ = ["CrossEncoderResult", "train_cross_encoder"]


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
                "(stage1_offset) needs: build them with stage2_examples or rerank.train.residual.with_stage1_z"
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
        train: training rows (see `rerank.train.examples.stage2_examples`, `rerank.train.data.build_examples`).
        validation: held-out rows with both labels (see `rerank.train.data.split_by_query`).
        out_dir: the model folder (``CrossEncoder(out_dir)`` loads it).
        config: the recipe.
        validation_lists: the held-out queries' whole stage-1 candidate lists; with
            `config.fuse_stage1` the stage-1 weight is chosen on them (`rerank.fusion`) and the
            thresholds are then fitted on fused scores.
        corpus_texts: the corpus, for a from-scratch kernel model's IDF and average length.
        weight_evidence: more held-out lists to choose the stage-1 weight on (with `config.fuse_stage1`),
            each scored by its own reranker: e.g. cross-validation folds (`rerank.train.recipe`).
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

    from rerank.train.evaluator import ThresholdEvaluator
    from rerank.train.history import write_history
    from rerank.train.initial import initial_cross_encoder
    from retrieval.sentences import SentenceScorer
    from retrieval.train.hf_trainer import quiet_console, shared_arguments

    if not train:
        raise ValueError("no training rows: build them with rerank.train.data.build_examples")
    if config.fuse_sentences and config.fuse_stage1 and validation_lists and sentence_encoder is None:
        raise ValueError(
            "fuse_sentences needs the stage-1 encoder that made validation_lists: pass sentence_encoder=encoder"
        )
    start = time.perf_counter()
    out_dir = Path(out_dir)
    work_dir = out_dir.parent / f".{out_dir.name}.work"
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    with quiet_progress(not show_progress):  # the libraries' own bars too (saving, checkpoints)
        set_seed(config.seed)
        model = initial_cross_encoder(config, work_dir, corpus_texts)
        evaluator = ThresholdEvaluator(
            [(r.query, r.passage) for r in validation], [r.label for r in validation], beta=config.beta, name="val",
            batch_size=max(config.batch_size, 64),
        )
        if config.stage1_offset:
            from rerank.train.residual import ResidualBCELoss

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
            logging_steps=max(1, len(train) // config.batch_size // 10),
            **shared_arguments(show_progress),
        )
        trainer = CrossEncoderTrainer(
            model=model, args=args, train_dataset=_dataset(train, config.stage1_offset), loss=loss, evaluator=evaluator,
            optimizers=(_optimizer(model, config), None),
        )
        quiet_console(trainer, show_progress).train()

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
