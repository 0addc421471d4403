"""What an index manifest records about its encoder, and the check that a query encoder is that one.

Any stage-1 encoder (`retrieval.types.TextEncoder`: a model, or an ensemble of them) is described
by its name, revision, dimension, metric, prompts and the embedding of a fixed probe text; loading
an index refuses an encoder whose description or probe embedding does not match.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from indexes import EncoderMismatchError

__all__ = ["PROBE_TEXT", "check_encoder", "describe_encoder"]

PROBE_TEXT = "the quick brown fox checks which encoder built this index"


def describe_encoder(encoder: Any) -> dict[str, Any]:
    """What the manifest records about `encoder`, with a probe embedding to recognise it by."""
    probe = encoder.encode_documents([PROBE_TEXT], show_progress=False)[0]
    return {
        "name": encoder.name,
        "revision": encoder.revision,
        "dim": encoder.dim,
        "metric": encoder.metric,
        "query_prompt": encoder.query_prompt,
        "document_prompt": encoder.document_prompt,
        "probe": [round(float(x), 6) for x in probe],
    }


def check_encoder(encoder: Any, recorded: dict[str, Any]) -> None:
    """Raise EncoderMismatchError unless `encoder` is the one `recorded` (a manifest's) describes."""
    if not recorded:
        return
    name = recorded.get("name")
    if recorded.get("dim") != encoder.dim:
        raise EncoderMismatchError(
            f"the index was built with encoder {name!r} ({recorded.get('dim')}-d); {encoder.name!r} gives "
            f"{encoder.dim}-d vectors. Search it with the encoder it was built with, or rebuild the index."
        )
    for key in ("query_prompt", "document_prompt"):
        if recorded.get(key) != getattr(encoder, key):
            raise EncoderMismatchError(
                f"the index was built with {key}={recorded.get(key)!r}, this encoder uses "
                f"{getattr(encoder, key)!r}; pass the same prompts or rebuild the index."
            )
    stored = np.asarray(recorded.get("probe") or [], dtype=np.float32)
    if stored.size:
        now = encoder.encode_documents([PROBE_TEXT], show_progress=False)[0]
        cos = float(now @ stored / max(np.linalg.norm(now) * np.linalg.norm(stored), 1e-12))
        if cos < 0.999:
            raise EncoderMismatchError(
                f"encoder {encoder.name!r} does not produce the embeddings of {name!r} (revision "
                f"{recorded.get('revision')}) that built this index (probe cosine {cos:.4f}). "
                "Load the index with its own encoder, or rebuild it with this one."
            )
