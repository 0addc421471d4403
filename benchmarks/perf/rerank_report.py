"""The stage-2 speed report: Markdown tables of a `benchmarks.perf_rerank` results dict."""

from __future__ import annotations

from typing import Any

__all__ = ["rerank_report"]


def rerank_report(r: dict[str, Any]) -> str:
    """The Markdown report of a `python -m benchmarks.perf_rerank` results dict."""
    t = r["throughput"]
    lines = [
        "# Stage-2 reranking speed",
        "",
        f"Command: `{r['command']}`",
        f"Model: {r['model']['description']}; stage 1: {r['stage1']}.",
        f"Machine: {r['environment']['cpu']}, {r['environment']['torch_threads']} torch threads; "
        f"load averages (1, 5, 15 min): {r.get('loads', {'start': r['load_before'], 'end': r['load_after']})} "
        "(the cores are shared with other work).",
        f"Matmul peak (fp32, {r['peak_size']}^3, measured in this run): {r['peaks']} GFLOP/s; efficiency "
        f"below uses the highest, {max(r['peaks'])}.",
        "",
        f"## Throughput: {t['queries']} queries x {r['candidates']} candidates = {t['pairs']} pairs, "
        f"{t['mean_tokens']:.0f} tokens per pair on average, {t['truncated']} truncated to {r['max_length']}",
        "",
        "| method | seconds | pairs/s | x naive | GFLOP/s (dense, nominal) | useful dense | with attention "
        "| useful % of peak | max abs diff vs naive |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in t["methods"].items():
        lines.append(
            f"| {name} | {row['seconds']:.1f} | {row['pairs_per_s']:.2f} | {row['speedup']:.2f} | "
            f"{row['gflops_dense']:.1f} | {row['gflops_useful']:.1f} | {row['gflops_total']:.1f} | {row['pct_peak']:.0f}% "
            f"| {row['max_abs_diff']:.2e} |"
        )
    lines += [
        "",
        "`naive`: `CrossEncoder.predict(pairs_of_one_query, batch_size=32)` per query. `fp32`: "
        f"`CrossEncoderReranker.score` over {r['chunk']} queries per call ({r['reranker']}). `int8`: the same "
        "with int8 dynamic quantisation of the linear layers. `GFLOP/s (dense, nominal)` counts every layer for "
        "every real token; `useful dense` only the work the score needs "
        f"({r['executed_dense_share']:.0%} of the nominal: the last layer for the scored token only), the same "
        "for every method; `useful % of peak` is that rate against the matmul peak. The naive loop also "
        "computes padding, which counts in neither.",
        "",
        "## Latency: stage-2 ms per query (median, one query per call)",
        "",
        "| candidates | " + " | ".join(next(iter(r["latency"].values()))) + " |",
        "|---" * (1 + len(next(iter(r["latency"].values())))) + "|",
    ]
    for depth, row in r["latency"].items():
        lines.append(f"| {depth} | " + " | ".join(f"{v:.0f}" for v in row.values()) + " |")
    q = r["quality"]
    lines += ["", "## Reduced precision (int8, bf16) against fp32", ""]
    lines.append(
        f"The timed model, the {q['queries']} throughput queries: nDCG@10 "
        + ", ".join(f"{k} {v:.4f}" for k, v in q["ndcg@10"].items())
        + (f"; int8 - fp32 = {q['ndcg_delta']:+.4f}; Kendall tau {q['int8_vs_fp32']['kendall_tau']:.3f}, top-10 "
           f"overlap {q['int8_vs_fp32']['top10_overlap']:.3f}." if "int8_vs_fp32" in q else ".")
    )
    if not r["model"]["path"]:
        lines.append(
            "(The timed model's head is untrained (random weights or a new head on a pretrained body): these nDCG "
            "values are noise; the agreement figures are what it can show.)"
        )
    lines += _agreement_table(q)
    if r.get("model_quality"):
        m = r["model_quality"]
        lines.append(
            f"\nTrained model `{m['model']}`, {m['queries']} queries: nDCG@10 "
            + ", ".join(f"{k} {v:.4f}" for k, v in m["ndcg@10"].items())
            + (f"; int8 - fp32 = {m['ndcg_delta']:+.4f}; Kendall tau {m['int8_vs_fp32']['kendall_tau']:.3f}, "
               f"top-10 overlap {m['int8_vs_fp32']['top10_overlap']:.3f}." if "int8_vs_fp32" in m else ".")
        )
        lines += _agreement_table(m)
    ratios = r.get("ratios", {})
    if "best_int8" in ratios:
        def named(key: str) -> str:
            best = ratios.get(key)
            return f"**{best}** ({r['throughput']['methods'][best]['speedup']:.2f}x naive)" if best else "none"

        lines += [
            "",
            f"Agreement from {ratios['quality_from']}. Fastest within 0.005 nDCG@10 of fp32: int8 {named('best_int8')}, "
            f"bf16 {named('best_bf16')}. The default's rule (fastest within 0.005 nDCG@10 whose scores keep "
            f"Kendall tau >= 0.99 against fp32): {named('default_choice')}.",
        ]
    return "\n".join(lines) + "\n"


def _agreement_table(quality: dict[str, Any]) -> list[str]:
    """Each method's nDCG@10 change, Kendall tau and top-10 overlap against fp32, as Markdown rows."""
    rows = quality.get("vs_fp32") or {}
    if not rows:
        return []
    lines = ["", "| method | nDCG@10 | - fp32 | Kendall tau vs fp32 | top-10 overlap |", "|---|---|---|---|---|"]
    for name, row in rows.items():
        lines.append(
            f"| {name} | {quality['ndcg@10'][name]:.4f} | {row['ndcg_delta']:+.4f} | {row['kendall_tau']:.4f} | "
            f"{row['top10_overlap']:.3f} |"
        )
    return lines
