"""Ad hoc: the cross-encoder compiled by inductor, in bf16 and in static int8 (torchao PT2E), against the
naive loop and the project's packed bf16 path, on the same pairs: speed and nDCG@10.

Pairs: the 300 SciFact test queries x BM25 top 10, scored by the cross-encoder alone (as
`benchmarks.perf_rerank`'s quality check). Static int8 is calibrated on 128 pairs of 16 *training*
queries (BM25 top 8). Every pair is padded to the model's 128 tokens, in batches of 16, so the compiled
graphs see one shape. The x86 inductor quantizer's linear + GELU annotation fails on torch 2.13
(its GELU partition has no output node), so it is switched off: linears are int8, GELU runs after them.
Not part of the project's code (torchao is not a dependency); docs/speed.md quotes its output.

    pip install --no-deps --target /tmp/tao torchao==0.18.0
    PYTHONPATH=/tmp/tao:. python docs/experiments/int8_pt2e_rerank.py --model <fine-tuned cross-encoder>
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import time
import warnings

import numpy as np


def main() -> None:
    import torch
    import torch._inductor.config as inductor
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as x86
    from sentence_transformers import CrossEncoder
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from benchmarks.collection import load_beir
    from benchmarks.paths import shared_dir
    from benchmarks.perf.rerank_timing import bm25_candidates, int8_quality
    from rerank import CrossEncoderReranker
    from retrieval.encoder import document_text

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    inductor.freezing = True
    x86.X86InductorQuantizer._annotate_linear_unary = lambda self, *a, **k: None

    folder = shared_dir() / "datasets" / "scifact"
    test, train = load_beir(folder), load_beir(folder, split="train")
    qids = sorted(test.qrels)
    cands = bm25_candidates(test, qids, 10)
    pairs = [(test.queries[q], document_text(h)) for q in qids for h in cands[q]]
    calib_q = sorted(train.qrels)[:16]
    calib_c = bm25_candidates(train, calib_q, 8)
    calib_pairs = [(train.queries[q], document_text(h)) for q in calib_q for h in calib_c[q]]
    model = CrossEncoder(args.model, device="cpu")
    tokenizer, size = model.tokenizer, 16

    def batches(items):
        out = []
        for i in range(0, len(items), size):
            chunk = items[i : i + size]
            n = len(chunk)
            chunk = chunk + [chunk[-1]] * (size - n)
            f = tokenizer([a for a, _ in chunk], [b for _, b in chunk], truncation="longest_first",
                          max_length=128, padding="max_length", return_tensors="pt")
            out.append((n, (f["input_ids"], f["attention_mask"], f["token_type_ids"])))
        return out

    class Forward(torch.nn.Module):  # the mean-pooling head of rerank.train.initial.mean_pooling_cross_encoder
        def __init__(self, bert, linear):
            super().__init__()
            self.bert, self.linear = bert, linear

        def forward(self, ids, mask, types):
            h = self.bert(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
            m = mask.unsqueeze(-1).to(h.dtype)
            return self.linear((h * m).sum(1) / m.sum(1))

    feats, calib = batches(pairs), [f for _, f in batches(calib_pairs)]
    fp32 = Forward(model[0].auto_model, model[2].linear).eval()

    def run(forward, autocast=False, tokenize=False):
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=autocast):
            todo = batches(pairs) if tokenize else feats
            return np.concatenate([forward(*f).float().flatten().numpy()[:n] for n, f in todo])

    results, speed = {}, {}

    def timed(name, fn):
        start = time.perf_counter()
        results[name] = fn()
        speed[name] = len(pairs) / (time.perf_counter() - start)

    bounds = np.cumsum([0] + [len(cands[q]) for q in qids])
    timed("naive", lambda: np.concatenate([
        model.predict(pairs[a:b], batch_size=32, show_progress_bar=False) for a, b in zip(bounds[:-1], bounds[1:])
    ]))
    results["fp32"] = results["naive"]
    with torch.no_grad():
        compiled_bf16 = torch.compile(copy.deepcopy(fp32).to(torch.bfloat16))
        run(compiled_bf16)
        timed("compiled bf16, tokenizing", lambda: run(compiled_bf16, tokenize=True))
        exported = torch.export.export(copy.deepcopy(fp32), feats[0][1]).module()
        quantizer = x86.X86InductorQuantizer()
        quantizer.set_global(x86.get_default_x86_inductor_quantization_config())
        prepared = prepare_pt2e(exported, quantizer)
        for f in calib:
            prepared(*f)
        int8 = torch.compile(convert_pt2e(prepared))
        run(int8, autocast=True)
        timed("compiled int8 static + bf16, tokenizing", lambda: run(int8, autocast=True, tokenize=True))
        timed("compiled int8 static + bf16, forward only", lambda: run(int8, autocast=True))
        timed("compiled bf16, forward only", lambda: run(compiled_bf16))
    # Last: the packed reranker's worker threads leave the process's OpenMP settings as they found them,
    # but the compiled kernels above are timed before it runs all the same.
    packed = CrossEncoderReranker.load(args.model, device="cpu", precision="bf16", show_progress=False)
    timed("packed bf16 (the default here)", lambda: packed.predict(pairs))
    scores = {k: {q: v[bounds[i] : bounds[i + 1]] for i, q in enumerate(qids)} for k, v in results.items()}
    quality = int8_quality({k: v for k, v in scores.items() if k != "naive"}, cands, test.qrels)
    for name in results:
        if name == "fp32":
            continue
        row = quality["vs_fp32"].get(name, {})
        print(f"{name:44s} {speed[name]:7.1f} pairs/s {speed[name] / speed['naive']:5.2f}x naive  "
              f"nDCG@10 {quality['ndcg@10'].get(name, quality['ndcg@10']['fp32']):.4f} "
              f"({row.get('ndcg_delta', 0):+.4f}) tau {row.get('kendall_tau', 1.0):.4f}")
    print(json.dumps(quality["ndcg@10"]))


if __name__ == "__main__":
    main()
