"""The errors and warnings the serving layers raise about models and the text given to them."""

from __future__ import annotations

__all__ = ["InvalidTextError", "ModelLoadError", "QueryTruncatedWarning"]


class ModelLoadError(RuntimeError):
    """A model that cannot be loaded (not found locally, the hub not reachable, or its files not the pinned ones)."""


class InvalidTextError(ValueError):
    """Text a model cannot read: it holds a lone surrogate, so it is not Unicode (non-UTF-8 input)."""


class QueryTruncatedWarning(UserWarning):
    """A query longer than the model's window: only its first window of tokens was read."""
