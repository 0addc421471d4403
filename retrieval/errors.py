"""The model-loading error every loader in the project raises (encoders, cross-encoders, packaged models)."""

from __future__ import annotations

__all__ = ["ModelLoadError"]


class ModelLoadError(RuntimeError):
    """A model that cannot be loaded (not found locally, the hub not reachable, or its files not the pinned ones)."""
