"""What both stages' Hugging Face trainers share: CPU training, no reporting, and quiet when asked."""

from __future__ import annotations

from typing import Any

__all__ = ["quiet_console", "shared_arguments"]


def shared_arguments(show_progress: bool) -> dict[str, Any]:
    """Training-argument values common to both stages' trainers: CPU, no reporting, in-process data loading."""
    return {"report_to": "none", "disable_tqdm": not show_progress, "use_cpu": True, "dataloader_num_workers": 0}


def quiet_console(trainer: Any, show_progress: bool) -> Any:
    """`trainer`, without its console log of the losses when progress is not shown."""
    if not show_progress:
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    return trainer
