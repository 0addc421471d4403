"""Silence the Hugging Face libraries' own progress bars for a block of code (``--no-progress``, ``--quiet``).

transformers ("Writing model shards", "Loading weights"), datasets and huggingface_hub each keep a
switch for their bars, and sentence-transformers draws "Computing widget examples" with a plain
tqdm when a trainer starts. `quiet_progress` turns them all off inside a ``with`` block and puts
each back as it was on the way out: nothing changes at import, and nothing outside the block.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

__all__ = ["quiet_progress"]


@contextmanager
def _switch(is_enabled: Any, enable: Any, disable: Any) -> Iterator[None]:
    was_enabled = is_enabled()
    disable()
    try:
        yield
    finally:
        if was_enabled:
            enable()


@contextmanager
def _model_card_bar() -> Iterator[None]:
    """sentence-transformers' "Computing widget examples" bar, drawn with its model card module's tqdm."""
    try:
        from sentence_transformers.base import model_card
    except ImportError:  # pragma: no cover - another sentence-transformers layout: nothing to silence
        yield
        return
    bar = model_card.tqdm
    model_card.tqdm = functools.partial(bar, disable=True)
    try:
        yield
    finally:
        model_card.tqdm = bar


@contextmanager
def quiet_progress(quiet: bool = True) -> Iterator[None]:
    """Inside the block, no progress bar from transformers, datasets, huggingface_hub or sentence-transformers.

    Args:
        quiet: False makes this a no-op, so callers can pass ``not show_progress``.

    Example:
        >>> with quiet_progress(not show_progress):  # doctest: +SKIP
        ...     model.save("models/st")
    """
    if not quiet:
        yield
        return
    import datasets
    import huggingface_hub.utils as hub
    from transformers.utils import logging as transformers_logging

    with ExitStack() as stack:
        stack.enter_context(_switch(
            transformers_logging.is_progress_bar_enabled, transformers_logging.enable_progress_bar,
            transformers_logging.disable_progress_bar,
        ))
        stack.enter_context(_switch(
            datasets.is_progress_bar_enabled, datasets.enable_progress_bars, datasets.disable_progress_bars
        ))
        stack.enter_context(_switch(
            lambda: not hub.are_progress_bars_disabled(), hub.enable_progress_bars, hub.disable_progress_bars
        ))
        stack.enter_context(_model_card_bar())
        yield
