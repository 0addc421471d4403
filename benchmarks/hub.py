"""Is the Hugging Face hub usable? Answered fast, never by waiting on a network timeout."""

from __future__ import annotations

import os
import socket
from functools import lru_cache

__all__ = ["cached_model_path", "hub_offline", "hub_reachable"]

_TRUE = {"1", "true", "yes", "on"}


def hub_offline() -> bool:
    """Whether the environment forbids the hub (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE or HF_DATASETS_OFFLINE)."""
    names = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
    return any(os.environ.get(name, "").strip().lower() in _TRUE for name in names)


@lru_cache(maxsize=1)
def _can_connect(host: str, timeout: float) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def hub_reachable(timeout: float = 2.0) -> bool:
    """False when offline by environment, or when huggingface.co cannot be reached within `timeout` s."""
    if hub_offline():
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    host = endpoint.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return _can_connect(host, timeout)


def cached_model_path(repo_id: str) -> str | None:
    """The local snapshot folder of `repo_id` in the Hugging Face cache, or None if not cached.

    Example:
        >>> cached_model_path("no-such-org/no-such-model") is None
        True
    """
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - a dependency of sentence-transformers
        return None
    for filename in ("modules.json", "config.json"):
        found = try_to_load_from_cache(repo_id, filename)
        if isinstance(found, str):
            return os.path.dirname(found)
    return None
