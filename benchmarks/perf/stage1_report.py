"""The stage-1 speed report: Markdown tables of the sections in a `benchmarks.perf_stage1` results dict."""

from __future__ import annotations

from typing import Any

__all__ = ["stage1_report"]


def stage1_report(results: dict[str, Any]) -> str:
    """The Markdown report of a `python -m benchmarks.perf_stage1` results dict, one part per section run."""
    lines = ["# Stage-1 performance", "", f"Machine: {results['machine']}", ""]
    lines.append(f"Command: `{results['command']}`")
    lines.append("")
    if "build" in results:
        b = results["build"]
        lines += [
            "## Build overhead",
            f"{b['docs']} SciFact docs: encoder {b['encoder_docs_per_s']} docs/s, build_index "
            f"{b['build_index_docs_per_s']} docs/s, ratio **{b['ratio']}** (target >= 0.9); in CPU time "
            f"{b['cpu_ratio']}; load {b['load1']}.",
            "",
        ]
    for key in ("latency_start", "latency_end"):
        if key in results:
            lat = results[key]
            lines += [f"## Single-query latency ({key.split('_')[1]} of run)", ""]
            lines += ["| call | p50 ms | p95 ms | min ms | CPU p50 ms |", "|---|---|---|---|---|"]
            for name, s in lat.items():
                if isinstance(s, dict) and "p50_ms" in s:
                    lines.append(f"| {name} | {s['p50_ms']} | {s['p95_ms']} | {s['min_ms']} | {s['cpu_p50_ms']} |")
            lines += [
                "",
                f"{lat['queries']} queries, Flat index of {lat['index_docs']} docs, load {lat['load_before']} -> "
                f"{lat['load_after']}. Encoder backend {lat.get('backend', 'torch')!r} (single queries on ONNX "
                f"Runtime: {'yes' if lat.get('small_batches_on_onnx') else 'no'}). Target: searcher_query p50 <= 10 "
                "ms, p95 <= 20 ms and below sentence_transformer_encode. CPU ms: process time (all threads,"
                " spinning included); for one-thread calls it is what an idle core would take.",
                "",
            ]
    if "precision" in results:
        p = results["precision"]
        lines += [
            f"## Bulk encoding, fp32 against bf16 and int8 ({p['docs']} docs, {p['queries']} judged queries; "
            f"load {p['load1']})",
            "",
            "| precision | seconds | docs/s | dense nDCG@10 |",
            "|---|---|---|---|",
        ]
        for name, row in p["runs"].items():
            lines.append(f"| {name} | {row['seconds']} | {row['docs_per_s']} | {row['ndcg@10']} |")
        lines += [
            "",
            f"bf16: **{p['speedup_bf16']}x** fp32, nDCG@10 change {p['ndcg_delta_bf16']:+.4f}, max abs vector "
            f"difference {p['max_abs_diff']:.1e} (target: int8 >= 2x fp32 within 0.005 nDCG@10; int8 is the "
            "packed forward's, `packed int8` below).",
            "",
        ]
        for name in (n for n in p["runs"] if n.startswith("packed")):
            key = name.replace(" ", "_")
            lines += [
                f"{name} (`backend=\"packed\"`): {p[f'speedup_{key}']}x torch fp32, nDCG@10 change "
                f"{p[f'ndcg_delta_{key}']:+.4f}.",
                "",
            ]
    if "threads" in results:
        t = results["threads"]
        lines += [
            f"## One forward pass: 1 thread vs all (best of several; load {t['load1']})",
            "",
            "| tokens | batch x seq | 1 thread ms | all threads ms | 1 thread, CPU ms |",
            "|---|---|---|---|---|",
        ]
        all_key = f"ms_{t['all_threads']}_threads"
        for row in t["rows"]:
            lines.append(
                f"| {row['tokens']} | {row['batch']} x {row['seq']} | {row['ms_1_threads']} | {row[all_key]} | "
                f"{row['cpu_ms_1_thread']} |"
            )
        lines.append("")
    if "bulk" in results:
        lines += [
            f"## Bulk encoding ({results['bulk']['docs']} SciFact docs)",
            "",
            "| config | threads | docs/s | GFLOP/s | useful | peak | ratio | per CPU-s | CPU peak | CPU ratio | load |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for run in results["bulk"]["runs"]:
            lines.append(
                f"| {run['config']} | {run['threads']} | {run['docs_per_s']} | {run['gflops']} | {run['useful_gflops']} | "
                f"{run['peak_gflops']} | **{run['ratio_to_peak']}** | {run['gflops_per_cpu_s']} | "
                f"{run['cpu_peak_gflops']} | {run['cpu_ratio']} | {run['load1']} |"
            )
        lines += ["", "FLOPs per layer: 2*real_tokens*(4h^2 + 2h*ffn) + per sequence 4*L^2*h (L padded as run).", ""]
    if "faiss" in results:
        f = results["faiss"]
        lines += [f"## FAISS over {f['vectors']:,} unit {f['dim']}-d vectors (inner product, k={f['k']})", ""]
        lines += [f"Checks: {f['checks']}", ""]
        for data in f["datasets"]:
            lines += [
                f"### {data['data']} vectors (load {data['load1']})",
                "",
                f"Flat: batched ({f['queries']} queries) {data['flat_batched_ms_per_query']} ms/query; single query "
                f"p50 {data['flat_single']['p50_ms']} ms (FAISS default threads), "
                f"{data['flat_single_faiss_1_thread']['p50_ms']} ms (1 FAISS thread).",
                "",
                "| index | nprobe | recall@10 | batched ms/q | speed-up | single p50 ms (1 thread) | speed-up |",
                "|---|---|---|---|---|---|---|",
            ]
            for approx in data["approximate"]:
                name = approx["factory"] + (f" k_factor={approx['k_factor']}" if approx["k_factor"] else "")
                for s in approx["sweep"]:
                    lines.append(
                        f"| {name} | {s['nprobe']} | {s['recall_at_10']} | {s['batched_ms_per_query']} | "
                        f"{s['speedup_batched']} | {s['single_p50_ms_faiss_1_thread']} | {s['speedup_single']} |"
                    )
                lines.append(f"| (train {approx['train_vectors']:,} in {approx['train_s']} s, add {approx['add_s']} s) | | | | | | |")
            lines.append("")
    return "\n".join(lines)
