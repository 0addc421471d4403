"""An explicit registry of stage-2 backends, found through package entry points.

The retrieval layer never imports `rerank` (imports point one way); the `rerank` package registers
its backends under the entry-point group ``twostage.rerankers`` in pyproject.toml, and the command
line finds them here by name.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from retrieval.types import Reranker

__all__ = ["GROUP", "available_rerankers", "load_reranker"]

GROUP = "twostage.rerankers"


def available_rerankers() -> list[str]:
    """Names of the registered reranker backends."""
    return sorted(ep.name for ep in entry_points(group=GROUP))


def load_reranker(model: str, backend: str = "cross-encoder", *, runtime: str | None = None, **kwargs: Any) -> Reranker:
    """Load a reranker model with a registered backend (``"cross-encoder"`` by default).

    `runtime` is where the model runs, passed on as the loader's own ``backend`` argument (for the
    cross-encoder: ``"auto"``, ``"torch"``, ``"packed"``, ``"onnx"``, ``"openvino"``); ``None`` keeps
    the loader's default.
    """
    if runtime is not None:
        kwargs["backend"] = runtime
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    if backend not in found:
        raise ValueError(
            f"no reranker backend {backend!r}; registered: {sorted(found) or 'none'} "
            "(reinstall the package with `pip install -e .` to register the built-in ones)"
        )
    return found[backend].load()(model, **kwargs)
