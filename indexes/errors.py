"""Errors raised by the storage layer, each naming the problem and the fix."""

__all__ = [
    "CorpusError",
    "EncoderMismatchError",
    "FactoryError",
    "IndexConflictError",
    "IndexFormatError",
    "IndexPathError",
]


class CorpusError(ValueError):
    """Documents that cannot be indexed (duplicate ids, empty text, wrong types, an empty corpus)."""


class FactoryError(ValueError):
    """A FAISS factory string that cannot be built, or cannot be trained on the vectors given."""


class IndexFormatError(RuntimeError):
    """An index directory that is missing, truncated, corrupt or of an unknown format."""


class IndexPathError(IndexFormatError):
    """A save target that is not an index directory this library wrote: a file, or a folder of other things.

    Saving never deletes or moves what it did not write, so it refuses such a path instead.
    """


class IndexConflictError(RuntimeError):
    """Another writer holds the index directory's lock, or saved to it after this index was loaded."""


class EncoderMismatchError(ValueError):
    """A query encoder that does not match the one the index was built with."""
