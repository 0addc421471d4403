"""Errors raised by the storage layer, each naming the problem and the fix."""

__all__ = ["CorpusError", "EncoderMismatchError", "IndexFormatError"]


class CorpusError(ValueError):
    """Documents that cannot be indexed (duplicate ids, empty text, wrong types)."""


class IndexFormatError(RuntimeError):
    """An index directory that is missing, truncated, corrupt or of an unknown format."""


class EncoderMismatchError(ValueError):
    """A query encoder that does not match the one the index was built with."""
