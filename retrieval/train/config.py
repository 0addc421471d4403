"""The bi-encoder training recipe, as a frozen dataclass that round-trips to JSON."""

from __future__ import annotations

from dataclasses import dataclass, field

from retrieval.config_io import JsonConfig

__all__ = ["BiEncoderConfig"]

_ARCHITECTURES = ("static", "transformer")
_STATIC_INITS = ("idf", "random")


@dataclass(frozen=True)
class BiEncoderConfig(JsonConfig):
    """How to train stage 1.

    Args:
        model: a sentence-transformers hub name or path to fine-tune; None trains from scratch.
        architecture: from scratch, ``"static"`` (StaticEmbedding, a bag of token vectors) or
            ``"transformer"`` (a small BERT of `shape`).
        tokenizer: from scratch, a tokenizer folder, or ``"corpus"`` to train a WordPiece one on the corpus.
        vocab_size: vocabulary of a tokenizer trained on the corpus.
        merge_inflections: a tokenizer trained on the corpus encodes inflected words as their base
            word plus a suffix piece ("cells" -> "cell", "##s"), a stemmer built into the vocabulary
            (`retrieval.train.tokenizer`).
        dim: StaticEmbedding width.
        static_init: how a from-scratch StaticEmbedding starts: ``"idf"`` scales each token's random
            vector by its corpus IDF (relative to the mean), so the untrained model is a random
            projection of an IDF-weighted bag of words; ``"random"`` is sentence-transformers' plain N(0, 1) start.
        shape: BertConfig fields of the scratch transformer.
        max_seq_length: tokens per text (transformers only).
        epochs: epochs on the in-batch-negative pairs.
        mining_rounds: rounds of (index the corpus, mine hard negatives, train `mining_epochs` on triplets).
        mining_epochs: epochs per mining round.
        batch_size: pairs per batch (MultipleNegativesRankingLoss uses the batch as negatives).
        learning_rate: None picks 0.2 for static, 3e-4 for a scratch transformer, 2e-5 for fine-tuning.
        warmup_ratio: linear warm-up share of the steps.
        use_labels: train on labelled (query, document) pairs from train qrels when given.
        label_repeats: how many times each labelled pair appears per epoch (they are few and precious).
        sentences_per_doc: (sentence, rest of document) pairs per document; 0 turns them off.
        use_titles: (title, body) pairs.
        depth, skip_top, margin, num_negatives: hard-negative mining (see `retrieval.train.mining`).
        members: static only: train this many models, with seeds `seed`, `seed + 1`, ..., and join
            them into one StaticEmbedding whose token vectors are the members' side by side (each
            member scaled so its document vectors have unit mean length), so its cosine is close to
            the mean of the members' cosines.
        bf16: train with bfloat16 autocast (the Hugging Face trainer's ``bf16=True``; the weights stay
            fp32): faster on GPUs and on CPUs with AMX, slower on CPUs without bf16 units.
        vocab_sizes: static, from scratch: also train `members` seeds (the same seeds, so the same
            pairs) over a corpus WordPiece tokenizer of each of these sizes, join each vocabulary's
            members, and save stage 1 as an encoder ensemble (`retrieval.encoder_ensemble`) whose
            similarity is the mean of the vocabularies' cosines (vocabularies cut words differently).
            Empty (the default): one model.
        seed: every random choice (initialisation, pair sampling, batch order).

    Example:
        >>> BiEncoderConfig(epochs=2).replace(seed=3).seed
        3
    """

    model: str | None = None
    architecture: str = "static"
    tokenizer: str = "corpus"
    vocab_size: int = 16_000
    merge_inflections: bool = True
    dim: int = 512
    static_init: str = "idf"
    shape: dict[str, int] = field(
        default_factory=lambda: {"num_hidden_layers": 2, "hidden_size": 128, "num_attention_heads": 2, "intermediate_size": 512}
    )
    max_seq_length: int = 256
    epochs: int = 3
    mining_rounds: int = 1
    mining_epochs: int = 1
    batch_size: int = 256
    learning_rate: float | None = None
    warmup_ratio: float = 0.1
    use_labels: bool = True
    label_repeats: int = 1
    sentences_per_doc: int = 2
    use_titles: bool = True
    depth: int = 30
    skip_top: int = 0
    margin: float = 0.05
    num_negatives: int = 1
    members: int = 1
    seed: int = 0
    vocab_sizes: tuple[int, ...] = ()
    bf16: bool = False

    CONFIG_NAME = "bi-encoder config"

    def __post_init__(self) -> None:
        if self.model is None and self.architecture not in _ARCHITECTURES:
            raise ValueError(f"architecture must be one of {_ARCHITECTURES}, got {self.architecture!r}")
        if self.static_init not in _STATIC_INITS:
            raise ValueError(f"static_init must be one of {_STATIC_INITS}, got {self.static_init!r}")
        for name in ("epochs", "batch_size", "vocab_size", "dim", "max_seq_length", "label_repeats", "members"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.members > 1 and (self.model is not None or self.architecture != "static"):
            raise ValueError("members > 1 joins StaticEmbedding models only: train from scratch with architecture='static'")
        object.__setattr__(self, "vocab_sizes", tuple(int(n) for n in self.vocab_sizes))  # JSON gives a list
        if self.vocab_sizes:
            if self.model is not None or self.architecture != "static":
                raise ValueError("vocab_sizes trains StaticEmbedding models only: train from scratch with architecture='static'")
            if min(self.vocab_sizes) < 100 or len(set(self.vocab_sizes)) != len(self.vocab_sizes):
                raise ValueError(f"vocab_sizes must be distinct sizes of at least 100, got {list(self.vocab_sizes)}")
            if self.tokenizer == "corpus" and self.vocab_size in self.vocab_sizes:
                raise ValueError(f"vocab_sizes repeats vocab_size {self.vocab_size}: list the other vocabularies only")
        if self.mining_rounds < 0 or self.sentences_per_doc < 0:
            raise ValueError("mining_rounds and sentences_per_doc cannot be negative")

    @property
    def lr(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        if self.model is not None:
            return 2e-5
        return 0.2 if self.architecture == "static" else 3e-4
