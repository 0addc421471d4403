"""A/B in one run: the reranker's pair tokenization before commit ae94599 (each pair tokenized, passages
twice, padded batches a third time) against the current one, on the same 800 SciFact pairs.

    PYTHONPATH=. python docs/experiments/pair_tokenize_ab.py <cross-encoder folder>

Run from the repository root (the old `rerank/pairs.py` is read with `git show`). Prints pairs/s each
way (best of three, alternating), whether the scores are identical, and `encode_pairs` alone.
"""
import importlib.util, json, random, subprocess, sys, tempfile, time
import numpy as np
import rerank.cross_encoder as ce
from benchmarks.paths import shared_dir
from rerank.cross_encoder import CrossEncoderReranker
old_file = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
old_file.write(subprocess.run(["git", "show", "ae94599~1:rerank/pairs.py"], capture_output=True, text=True, check=True).stdout)
old_file.close()
spec = importlib.util.spec_from_file_location("old_pairs", old_file.name); old = importlib.util.module_from_spec(spec); sys.modules["old_pairs"] = old; spec.loader.exec_module(old)
new_encode = ce.encode_pairs


def old_encode(tokenizer, queries, passages, max_length, template=None):
    return old.encode_pairs(tokenizer, queries, passages, max_length)  # the old one had no template

CE = sys.argv[1]
docs = {}
for l in open(shared_dir() / "datasets" / "scifact" / "corpus.jsonl"):
    d = json.loads(l); docs[d["_id"]] = " ".join(filter(None, (d.get("title"), d["text"])))
qs = [json.loads(l)["text"] for l in open(shared_dir() / "datasets" / "scifact" / "queries.jsonl")]
rng = random.Random(0); ids = list(docs)
Q = rng.sample(qs, 8); P = [[docs[i] for i in rng.sample(ids, 100)] for _ in Q]
flat_q = [q for q, ps in zip(Q, P) for _ in ps]; flat_p = [p for ps in P for p in ps]
res = {}
for name, kw in (("packed bf16", dict(precision="bf16")), ("packed fp32", dict(precision="fp32")), ("openvino bf16", dict(backend="openvino", precision="bf16"))):
    r = CrossEncoderReranker.load(CE, device="cpu", show_progress=False, **kw)
    r.outputs_for(flat_q[:50], flat_p[:50])  # warm
    pads = r._pads
    for rep in range(3):
        for which, fn in (("old", old_encode), ("new", new_encode)) if rep % 2 == 0 else (("new", new_encode), ("old", old_encode)):
            ce.encode_pairs = fn
            r._pads = pads if which == "new" else None  # old: padded batches tokenized by preprocess
            t = time.perf_counter(); s = r.outputs_for(flat_q, flat_p).logits; dt = time.perf_counter() - t
            res.setdefault((name, which), []).append(dt); res.setdefault((name, which, "s"), s)
    ce.encode_pairs = new_encode
    o, n = min(res[(name, "old")]), min(res[(name, "new")])
    same = np.array_equal(res[(name, "old", "s")], res[(name, "new", "s")])
    t = time.perf_counter(); old.encode_pairs(r.tokenizer, flat_q, flat_p, r.max_length); to = time.perf_counter() - t
    t = time.perf_counter(); new_encode(r.tokenizer, flat_q, flat_p, r.max_length); tn = time.perf_counter() - t
    print(f"{name}: {len(flat_q)} pairs, best of 3: old {o:.2f}s ({len(flat_q)/o:.1f} pairs/s), new {n:.2f}s ({len(flat_q)/n:.1f} pairs/s), x{o/n:.3f}; identical scores {same}; encode_pairs alone old {to:.3f}s new {tn:.3f}s", flush=True)
