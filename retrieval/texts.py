"""Text on its way into a model: refused when it is not Unicode, cut to the model's window when too long.

Example:
    >>> check_texts(["fine"], "query")
    ['fine']
    >>> check_texts(["caf\\udce9"], "query")
    Traceback (most recent call last):
    ...
    retrieval.errors.InvalidTextError: query 0 ('caf\\udce9') holds a lone surrogate '\\udce9' at position 3: ...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from retrieval.errors import InvalidTextError

__all__ = ["cap_tokens", "check_texts"]

_SHOWN = 60  # characters of an offending text quoted in an error


def check_texts(texts: Sequence[Any], what: str = "text") -> list[Any]:
    """`texts` as a list, or InvalidTextError naming the first string that is not valid Unicode.

    A lone surrogate (``"\\udce9"``) is what non-UTF-8 bytes become when decoded with
    ``surrogateescape``, as Python decodes command-line arguments; tokenizers reject it with an
    unrelated ``TypeError``. Items that are not strings are left for the caller to judge.
    """
    texts = list(texts)
    for position, text in enumerate(texts):
        if not isinstance(text, str) or text.isascii():
            continue
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            shown = repr(text) if len(text) <= _SHOWN else repr(text[:_SHOWN]) + "..."
            raise InvalidTextError(
                f"{what} {position} ({shown}) holds a lone surrogate {text[exc.start]!r} at position {exc.start}: "
                "the text is not UTF-8 (bytes in another encoding, such as a command-line argument or a file "
                "read with errors='surrogateescape'); decode it with its real encoding (e.g. "
                "raw.decode('latin-1')), or with errors='replace'"
            ) from None
    return texts


def cap_tokens(tokenizer: Any, text: str, max_tokens: int) -> tuple[str, bool]:
    """The start of `text` that holds its first `max_tokens` tokens, and whether anything was cut.

    Only a prefix a few times the window's size is tokenized, so a huge text costs about what a
    window does. The tokens of the prefix returned are the first `max_tokens` tokens of the whole
    text (special tokens not counted), so a model that truncates to its window reads the same
    tokens from either.

    Example:
        >>> cap_tokens(tokenizer, "one two three four", 2)  # doctest: +SKIP
        ('one two', True)
    """
    if max_tokens <= 0:
        raise ValueError(f"max_tokens must be positive, got {max_tokens}")
    if not getattr(tokenizer, "is_fast", False):
        return text, False  # no character offsets to cut at: the model's own truncation applies
    size = max(256, 16 * max_tokens)
    while True:
        head = text[:size]
        if len(head) < len(text):
            # end at a space: a word cut in two may split into other pieces than the whole word
            cut = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
            if cut > len(head) // 2:
                head = head[:cut]
        encoded = tokenizer(head, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        offsets = encoded["offset_mapping"]
        if len(offsets) > max_tokens:
            return text[: offsets[max_tokens][0]].rstrip(), True
        if len(head) == len(text):
            return text, False
        size *= 4
