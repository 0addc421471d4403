"""Ad hoc: where bulk fp32 encoding spends its time (torch profiler, self time grouped by operator kind).

Encodes 128 SciFact abstracts with all-MiniLM-L6-v2 on torch (the bulk path) and prints the share of
each kind of operator. Not part of the project's code; docs/speed.md quotes its output.

    python docs/experiments/profile_bulk_encode.py   (needs the models extra; ../shared beside the repo)
"""

from __future__ import annotations

import collections

_KINDS = {
    "linear matmuls (addmm/mm)": ("aten::addmm", "aten::mm", "aten::linear"),
    "add / mul / copies": (
        "aten::add", "aten::add_", "aten::mul", "aten::copy_", "aten::contiguous", "aten::clone", "aten::to",
        "aten::_to_copy", "aten::div",
    ),
}


def _kind(name: str) -> str:
    for kind, names in _KINDS.items():
        if name in names:
            return kind
    if any(k in name for k in ("scaled_dot", "bmm", "softmax", "_flash")):
        return "attention (sdpa / bmm / softmax)"
    if "gelu" in name:
        return "gelu"
    return "layer norm" if "layer_norm" in name else f"other: {name}"


def main() -> None:
    from torch.profiler import ProfilerActivity, profile

    from benchmarks.collection import load_beir
    from benchmarks.paths import shared_dir
    from retrieval.encoder import Encoder, document_text

    encoder = Encoder.load("sentence-transformers/all-MiniLM-L6-v2", device="cpu", backend="torch")
    texts = [document_text(d) for d in load_beir(shared_dir() / "datasets" / "scifact").corpus[:128]]
    encoder.encode_documents(texts[:16], show_progress=False)  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        encoder.encode_documents(texts, show_progress=False)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    shares: collections.Counter[str] = collections.Counter()
    for event in events:
        shares[_kind(event.key)] += event.self_cpu_time_total
    for kind, seconds in shares.most_common(8):
        print(f"{100 * seconds / total:5.1f}%  {kind}")


if __name__ == "__main__":
    main()
