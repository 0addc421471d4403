"""How the command lines report bad input: one line on stderr and exit code 2, never a traceback.

Every command (``python -m indexes.build``, ``retrieval.search``, ``retrieval.train``,
``rerank.train``, ``benchmarks.run``) catches `USER_ERRORS`, the typed errors that say what was
wrong with its input and how to fix it, and hands them to `report`.

Example:
    >>> report(FileNotFoundError("corpus.jsonl: no such file"))  # doctest: +SKIP
    2
"""

from __future__ import annotations

import sys

from indexes.errors import (
    CorpusError,
    EncoderMismatchError,
    FactoryError,
    IndexConflictError,
    IndexFormatError,
)
from indexes.sharded import ShardError
from retrieval.errors import InvalidTextError, ModelLoadError

__all__ = ["USAGE_ERROR", "USER_ERRORS", "report"]

USAGE_ERROR = 2  # the exit code of every refused input, as argparse's own

# IndexPathError is an IndexFormatError. OSError covers a path that is missing, a file, or not
# writable, and a full disk. ShardError: a shard actor that died or timed out (sharded indexes).
USER_ERRORS: tuple[type[BaseException], ...] = (
    CorpusError,
    EncoderMismatchError,
    FactoryError,
    IndexConflictError,
    IndexFormatError,
    InvalidTextError,
    ModelLoadError,
    OSError,
    ShardError,
)


def report(error: BaseException) -> int:
    """Print ``error: <message>`` as one line on stderr and return the exit code `USAGE_ERROR`."""
    message = " ".join(str(error).split()) or type(error).__name__
    print(f"error: {message}", file=sys.stderr)
    return USAGE_ERROR
