"""What an index manifest records about its encoder, and the check that a query encoder is that one.

Any stage-1 encoder (`retrieval.types.TextEncoder`: a model, or an ensemble of them) is described
by its name, revision, dimension, metric, prompts, a fingerprint of its weights and the embedding
of a fixed probe text. Loading an index refuses an encoder whose description differs:

- the weights fingerprint (sha256 over every tensor of the model's state dict, by name) must be
  equal, so a model with any weight changed, however slightly, is refused;
- the probe embedding checks the rest of the pipeline (tokenizer, pooling, normalisation): within
  cosine 0.999 where the fingerprints matched, and within `PROBE_TOLERANCE` (largest absolute
  difference, relative to the probe's scale) where there is no fingerprint to compare: a manifest
  written before fingerprints, or an encoder without a torch model.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from typing import Any

import numpy as np

from indexes import EncoderMismatchError

__all__ = ["PROBE_TEXT", "PROBE_TOLERANCE", "check_encoder", "describe_encoder", "weights_fingerprint"]

PROBE_TEXT = "the quick brown fox checks which encoder built this index"
# Largest absolute difference of the probe embedding (scaled by its largest value when above 1)
# accepted without a fingerprint: 20 times the rounding of the stored probe, far below what a
# perturbed model moves it.
PROBE_TOLERANCE = 1e-5
_PIPELINE_COSINE = 0.999  # with equal weights, the probe only has to show the same pipeline

# model -> (the identity and version of each of its tensors, their fingerprint)
_FINGERPRINTS: weakref.WeakKeyDictionary[Any, tuple[tuple[Any, ...], str]] = weakref.WeakKeyDictionary()


def _model_fingerprint(model: Any) -> str:
    import torch

    tensors = [(name, t) for name, t in sorted(model.state_dict().items()) if isinstance(t, torch.Tensor)]
    # A tensor's version counter moves with every in-place change (an optimiser step, a load, a
    # hand edit), so an unchanged key means unchanged weights: re-hashing is skipped.
    key = tuple((name, t.data_ptr(), t._version, t.dtype, tuple(t.shape)) for name, t in tensors)
    cached = _FINGERPRINTS.get(model)
    if cached is not None and cached[0] == key:
        return cached[1]
    digest = hashlib.sha256()
    for name, tensor in tensors:
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        data = tensor.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8)
        digest.update(memoryview(data.numpy()))
    fingerprint = digest.hexdigest()
    _FINGERPRINTS[model] = (key, fingerprint)
    return fingerprint


def weights_fingerprint(encoder: Any) -> str | None:
    """sha256 over the encoder's weights (each tensor's name, dtype, shape and bytes, in name order).

    An ensemble's is that of its parts' fingerprints and weights. None when the encoder has no
    torch model to fingerprint (a fake in tests, an encoder of another kind).

    Example:
        >>> len(weights_fingerprint(Encoder.load("path/to/model")))  # doctest: +SKIP
        64
    """
    parts = getattr(encoder, "parts", None)
    if parts is not None:
        prints = [weights_fingerprint(part) for part in parts]
        if any(p is None for p in prints):
            return None
        record = {"parts": prints, "weights": [float(w) for w in getattr(encoder, "weights", [])]}
        return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()
    model = getattr(encoder, "model", None)
    if model is None or not callable(getattr(model, "state_dict", None)):
        return None
    return _model_fingerprint(model)


def describe_encoder(encoder: Any) -> dict[str, Any]:
    """What the manifest records about `encoder`: its settings, weights fingerprint and a probe embedding."""
    probe = encoder.encode_documents([PROBE_TEXT], show_progress=False)[0]
    described = {
        "name": encoder.name,
        "revision": encoder.revision,
        "dim": encoder.dim,
        "metric": encoder.metric,
        "query_prompt": encoder.query_prompt,
        "document_prompt": encoder.document_prompt,
        "precision": getattr(encoder, "precision", "fp32"),
        "probe": [round(float(x), 6) for x in probe],
    }
    fingerprint = weights_fingerprint(encoder)
    if fingerprint is not None:
        described["fingerprint"] = fingerprint
    return described


def check_encoder(encoder: Any, recorded: dict[str, Any]) -> None:
    """Raise EncoderMismatchError unless `encoder` is the one `recorded` (a manifest's) describes."""
    if not recorded:
        return
    name = recorded.get("name")
    built = f"{name!r} (revision {recorded.get('revision')})"
    fix = "Load the index with the encoder it was built with, or rebuild the index with this one."
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
    expected = recorded.get("fingerprint")
    actual = weights_fingerprint(encoder) if expected is not None else None
    if actual is not None and actual != expected:
        raise EncoderMismatchError(
            f"encoder {encoder.name!r} does not produce the embeddings of {built} that built this index: its "
            f"weights fingerprint {actual[:12]}... differs from the recorded {str(expected)[:12]}... (other weights, however close, or "
            f"the same weights in another dtype). {fix}"
        )
    built_in, runs_in = recorded.get("precision", "fp32"), getattr(encoder, "precision", "fp32")
    if actual is not None and built_in != runs_in:  # the same weights run in another arithmetic (int8)
        raise EncoderMismatchError(
            f"the index was built with {built} in precision {built_in!r}; encoder {encoder.name!r} runs "
            f"{runs_in!r}. Load the encoder with precision={built_in!r} (Searcher and load_index do), or "
            "rebuild the index with this one."
        )
    stored = np.asarray(recorded.get("probe") or [], dtype=np.float32)
    if not stored.size:
        return
    now = encoder.encode_documents([PROBE_TEXT], show_progress=False)[0]
    if now.shape != stored.shape:
        raise EncoderMismatchError(
            f"encoder {encoder.name!r}: its probe embedding has {now.size} values, the recorded {stored.size}. {fix}"
        )
    if actual is not None:  # the same weights: the probe shows whether the same pipeline runs them
        cos = float(now @ stored / max(np.linalg.norm(now) * np.linalg.norm(stored), 1e-12))
        if cos < _PIPELINE_COSINE:
            raise EncoderMismatchError(
                f"encoder {encoder.name!r} has the weights of {built} that built this index, but not its "
                f"embeddings (probe cosine {cos:.4f}): its tokenizer, pooling or normalisation differ. {fix}"
            )
        return
    tolerance = PROBE_TOLERANCE * max(1.0, float(np.abs(stored).max()))
    diff = float(np.abs(now - stored).max())
    if not diff <= tolerance:
        raise EncoderMismatchError(
            f"encoder {encoder.name!r} does not produce the embeddings of {built} that built this index: its probe "
            f"embedding differs by up to {diff:.1e} (tolerance {tolerance:g}; the manifest holds no weights "
            f"fingerprint to compare, so the probe decides). {fix}"
        )
