"""Train a WordPiece tokenizer on a corpus with the `tokenizers` library (for models trained from scratch)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

__all__ = ["train_wordpiece"]

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def train_wordpiece(texts: Iterable[str], out_dir: str | Path, vocab_size: int = 16_000, min_frequency: int = 2) -> Path:
    """Train an uncased BERT-style WordPiece tokenizer and save it as a Hugging Face tokenizer folder.

    The folder loads with ``AutoTokenizer.from_pretrained(out_dir)`` and holds ``tokenizer.json`` for
    ``tokenizers.Tokenizer.from_file``.

    Example:
        >>> path = train_wordpiece(["some corpus text"] * 10, "/tmp/tok", vocab_size=200)  # doctest: +SKIP
    """
    from tokenizers.implementations import BertWordPieceTokenizer
    from transformers import BertTokenizerFast

    if vocab_size < len(SPECIAL_TOKENS) + 26:
        raise ValueError(f"vocab_size {vocab_size} is too small for a WordPiece vocabulary; use at least 100")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = BertWordPieceTokenizer(lowercase=True, strip_accents=True, clean_text=True)
    tokenizer.train_from_iterator(
        list(texts), vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIAL_TOKENS, show_progress=False
    )
    fast = BertTokenizerFast(tokenizer_object=tokenizer._tokenizer, do_lower_case=True, model_max_length=512)
    fast.save_pretrained(str(out_dir))
    return out_dir
