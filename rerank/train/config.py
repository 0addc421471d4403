"""The cross-encoder training recipe, as a frozen dataclass that round-trips to JSON."""

from __future__ import annotations

from dataclasses import dataclass, field

from retrieval.config_io import JsonConfig

__all__ = ["HEADS", "CrossEncoderConfig"]

# What scores a fine-tuned pair (`CrossEncoderConfig.head`).
HEADS = ("cls", "mean")


@dataclass(frozen=True)
class CrossEncoderConfig(JsonConfig):
    """How to train stage 2.

    Args:
        model: a CrossEncoder / Hugging Face model name or path to fine-tune; None trains from scratch.
        architecture: from scratch, ``"bert"`` (a BERT classifier of `shape`) or ``"kernel"`` (K-NRM,
            `rerank.kernel_model`: kernel-pooled token matches, query-term weights from the corpus IDF).
        tokenizer: from scratch, the tokenizer folder (e.g. the stage-1 model's, or the shared WordPiece).
        shape: BertConfig fields of a from-scratch BERT; a kernel model takes its ``hidden_size``.
        init_embeddings: a SentenceTransformer folder with a StaticEmbedding of the same tokenizer whose
            token vectors initialise the word embeddings (BERT: projected to its width; kernel: copied,
            at the static model's width).
        num_labels: 1 (one logit, sigmoid, BCEWithLogitsLoss) or 2 (softmax, cross-entropy).
        head: fine-tuning `model`, what scores the pair: ``"cls"`` the model's sequence-classification
            head (BERT: the pooled first token, its pooler kept from the checkpoint, a new classifier),
            ``"mean"`` the mean of the pair's token vectors and a new linear layer (sentence-transformers
            modules Transformer, Pooling, Dense): pools the way a sentence-transformers bi-encoder's
            body was trained. From scratch only ``"cls"``.
        max_length: tokens per (query, passage) pair.
        epochs, batch_size, learning_rate, warmup_ratio, weight_decay: the optimiser schedule (learning
            rate by default 2e-5 fine-tuning, 3e-4 a scratch BERT, 3e-2 a kernel model, whose few
            parameters need larger steps).
        train_embeddings: from scratch, also train the token vectors (False keeps the initial ones).
        embedding_learning_rate: with `train_embeddings`, the token vectors' own learning rate (None:
            the model's); a smaller one lets them move less than the kernel weights.
        negatives_per_query: stage-1 candidates (not labelled relevant) per training query.
        hard_first: take the top-ranked candidates as negatives (else a seeded sample of the depth).
        depth: how deep the stage-1 candidate list is (as deep as the reranker will see).
        negative_depth: draw negatives from the top this many candidates only (harder negatives);
            None draws from the whole `depth`.
        skip_top: skip this many top candidates (guards against unlabelled positives).
        validation_fraction: share of training queries held out for the evaluator (by query).
        beta: the F-beta weight of recall.
        eval_steps: evaluate every this many steps; None evaluates once per epoch.
        fuse_stage1: choose, on the validation queries' full candidate lists, a weight for the stage-1
            score that the reranker adds to its logit (see `rerank.fusion`); 0 means none is added.
        weight_rule: how `fuse_stage1` picks the weight from its grid (`rerank.train.stage1_weight.RULES`):
            ``"best"`` the best held-out nDCG@10, ``"one-se"`` the largest weight within one standard
            error of the best (leaning on stage 1 when the held-out queries cannot tell), over a grid
            reaching 50 logit spreads (`WIDE_GRID`), where the reranker only breaks stage 1's near-ties.
        fuse_sentences: with `fuse_stage1`, also weigh stage 1's best similarity to any one sentence
            of each candidate (`retrieval.sentences`), the two weights chosen together; needs the
            stage-1 encoder at training time (`train_cross_encoder`'s `sentence_encoder`).
        stage1_offset: train as a residual of stage 1 (`rerank.train.residual`): this times each
            training row's standardised stage-1 score is added to the logit inside the loss, so the
            reranker learns what stage 1 misses; 0 trains on the text alone. Needs one logit. The
            evaluator scores the validation rows on the text alone.
        seed: every random choice.

    Example:
        >>> CrossEncoderConfig().replace(num_labels=2).num_labels
        2
    """

    model: str | None = None
    architecture: str = "bert"
    tokenizer: str | None = None
    shape: dict[str, int] = field(
        default_factory=lambda: {"num_hidden_layers": 2, "hidden_size": 128, "num_attention_heads": 2, "intermediate_size": 512}
    )
    init_embeddings: str | None = None
    num_labels: int = 1
    head: str = "cls"
    max_length: int = 256
    epochs: int = 2
    batch_size: int = 32
    learning_rate: float | None = None
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    negatives_per_query: int = 7
    hard_first: bool = False
    depth: int = 100
    negative_depth: int | None = None
    skip_top: int = 0
    validation_fraction: float = 0.1
    beta: float = 2.0
    eval_steps: int | None = None
    train_embeddings: bool = True
    embedding_learning_rate: float | None = None
    fuse_stage1: bool = False
    fuse_sentences: bool = False
    weight_rule: str = "best"
    stage1_offset: float = 0.0
    seed: int = 0

    CONFIG_NAME = "cross-encoder config"

    def __post_init__(self) -> None:
        if self.architecture not in ("bert", "kernel"):
            raise ValueError(f"architecture must be 'bert' or 'kernel', got {self.architecture!r}")
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {self.head!r}")
        if self.num_labels not in (1, 2):
            raise ValueError(f"num_labels must be 1 (sigmoid) or 2 (softmax), got {self.num_labels}")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction}")
        if self.embedding_learning_rate is not None and not self.embedding_learning_rate > 0:
            raise ValueError(f"embedding_learning_rate must be positive or None, got {self.embedding_learning_rate}")
        from rerank.train.stage1_weight import RULES

        if self.weight_rule not in RULES:
            raise ValueError(f"weight_rule must be one of {RULES}, got {self.weight_rule!r}")
        if self.fuse_sentences and not self.fuse_stage1:
            raise ValueError("fuse_sentences chooses its weight beside the stage-1 weight: set fuse_stage1=True too")
        if self.stage1_offset < 0:
            raise ValueError(f"stage1_offset must be 0 (off) or positive, got {self.stage1_offset}")
        if self.stage1_offset and self.num_labels != 1:
            raise ValueError("stage1_offset (residual training) adds to one logit: set num_labels=1")
        if self.negative_depth is not None and self.negative_depth < 1:
            raise ValueError(f"negative_depth must be at least 1 or None, got {self.negative_depth}")
        for name in ("epochs", "batch_size", "max_length", "negatives_per_query", "depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    @property
    def lr(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        if self.model is not None:
            return 2e-5
        return 3e-2 if self.architecture == "kernel" else 3e-4
