"""`--no-progress` / `--quiet`: the Hugging Face libraries' own bars are off inside the block, as they were after it."""

from __future__ import annotations

from retrieval.progress import quiet_progress


def _switches() -> tuple:
    import datasets
    import huggingface_hub.utils as hub
    from sentence_transformers.base import model_card
    from transformers.utils import logging

    return (
        logging.is_progress_bar_enabled(), datasets.is_progress_bar_enabled(), hub.are_progress_bars_disabled(),
        model_card.tqdm,
    )


def test_quiet_progress_turns_every_bar_off_inside_and_puts_them_back():
    from sentence_transformers.base import model_card

    before = _switches()
    with quiet_progress():
        inside = _switches()
        assert inside[:3] == (False, False, True)
        assert model_card.tqdm(range(3), desc="Computing widget examples").disable  # the trainer's widget bar
    assert _switches() == before
    with quiet_progress(False):  # quiet=False: nothing changes
        assert _switches() == before
