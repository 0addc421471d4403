"""report.md: a run's tables in Markdown, with significance marks and the choices behind the numbers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["render_report", "significance_marks", "stage_table"]

_SUPERSCRIPT = dict(zip("abcdefghijklmnopqrstuvwxyz", "ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖ۹ʳˢᵗᵘᵛʷˣʸᶻ"))
_LABELS = {"ndcg": "nDCG", "mrr": "MRR", "recall": "R", "precision": "P", "map": "MAP"}


def _label(metric: str) -> str:
    base, _, cut = metric.partition("@")
    return f"{_LABELS.get(base, base)}@{cut}" if cut else _LABELS.get(base, base)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def significance_marks(stages: Sequence[str], pairs: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """``{(stage, metric): "ᵃᶜ"}``: the letters of the stages this one is significantly better than."""
    letters = {s: chr(ord("a") + i) for i, s in enumerate(stages)}
    beaten: dict[tuple[str, str], set[str]] = {}
    for row in pairs:
        if not row["significant"] or row["better"] is None:
            continue
        winner = row["better"]
        loser = row["b"] if winner == row["a"] else row["a"]
        if winner in letters and loser in letters:
            beaten.setdefault((winner, row["metric"]), set()).add(letters[loser])
    return {key: "".join(_SUPERSCRIPT[c] for c in sorted(found)) for key, found in beaten.items()}


def stage_table(result: Mapping[str, Any]) -> str:
    """The stage table: every metric, the rerank ceiling, latency; significance as superscripts."""
    stages = list(result["stages"])
    metrics = list(result["metrics"])
    marks = significance_marks(stages, result.get("significance", {}).get("pairs", []))
    ceilings = sorted({k for s in stages for k in result["stages"][s] if k.startswith("ceiling_")})
    head = ["", "stage", *(_label(m) for m in metrics), *(c.replace("ceiling_recall", "ceiling R") for c in ceilings)]
    head += ["p50 ms", "p95 ms", "q/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, stage in enumerate(stages):
        values = result["stages"][stage]
        latency = result.get("latency", {}).get(stage, {})
        cells = [chr(ord("a") + i), stage]
        cells += [_fmt(values.get(m)) + marks.get((stage, m), "") for m in metrics]
        cells += [_fmt(values.get(c)) for c in ceilings]
        cells += [_fmt(latency.get("p50_ms"), 1), _fmt(latency.get("p95_ms"), 1), _fmt(latency.get("qps"), 1)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _sweep_table(rows: Sequence[Mapping[str, Any]]) -> str:
    head = ["depth", "nDCG@10", "MRR@10", "ceiling R@depth", "stage-1 p50 ms", "rerank p50 ms", "total p50 ms", "total p95 ms", "q/s"]
    keys = ["depth", "ndcg@10", "mrr@10", "ceiling_recall", "stage1_p50_ms", "rerank_p50_ms", "p50_ms", "p95_ms", "qps"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(k), 1 if k.endswith(("ms", "qps")) else 4) for k in keys) + " |")
    return "\n".join(lines)


def _head_words(recipe: Mapping) -> str:
    """How the recipe's cross-encoder head reads in the report (recipes before the option used [CLS])."""
    head = (recipe.get("settings", {}).get("cross_encoder") or {}).get("head", "cls")
    if head == "mean":
        return "a new one-logit head on the mean of the pair's tokens"
    return "a new one-logit head on [CLS] and the pooler"


def _rule_words(calibration: Mapping) -> str:
    """The weight rule and query count the calibration records, as a parenthesis (empty when absent)."""
    fusion = calibration.get("fusion") or {}
    if not fusion.get("rule"):
        return ""
    rule = {"best": "the best", "one-se": "the one-standard-error"}.get(fusion["rule"], fusion["rule"])
    return f" ({rule} of {len(fusion.get('grid', {}))} weights on {fusion.get('queries', '?')} queries)"


def _models(result: Mapping[str, Any]) -> list[str]:
    models = result.get("models", {})
    lines = []
    if models.get("path"):
        lines.append(f"- path: **{models['path']}**")
    for role in ("encoder", "reranker", "pretrained"):
        if models.get(role):
            origin = models.get("origin", {}).get(role, "zero-shot, for the dense-pretrained stage" if role == "pretrained" else "given")
            name = models.get("names", {}).get(role)
            named = f" = {name}" if name and name != models[role] else ""
            lines.append(f"- {role}: `{models[role]}`{named} ({origin})")
    recipe = models.get("recipe", {})
    if recipe:
        when = "reused from the cache; when trained it took" if recipe.get("cached") else "trained in this run in"
        labels = recipe.get("labels", "?")
        if labels.startswith("train"):
            labels += " (never the test split)"
        seconds = ", ".join(f"{k} {v:.0f}" for k, v in models.get("train_seconds", {}).items())
        if models.get("path") == "pretrained (fine-tuned)":
            base = recipe.get("base", {})
            stage1 = (
                "stage 1 fine-tuned from it (MultipleNegativesRankingLoss, hard negatives from its zero-shot index)"
                if recipe.get("stage1") == "fine-tuned"
                else "stage 1 is it, unchanged (no labels)"
            )
            calibration = recipe.get("calibration") or {}
            stage2 = (
                "no stage 2 (without labels the recipe trains no cross-encoder)"
                if recipe.get("stage2") == "none"
                else f"stage 2 a cross-encoder on its body ({_head_words(recipe)}), trained on that stage 1's candidates, "
                f"stage-1 weight {calibration.get('stage1_weight', 0):.3g} chosen on held-out training queries"
                f"{_rule_words(calibration)}"
            )
            lines.append(
                f"- fine-tuned here from the pretrained `{base.get('hub') or base.get('name')}` (revision "
                f"`{base.get('revision', '-')}`) by `rerank.train.pretrained_recipe.pretrained_models`, budget "
                f"`{recipe.get('budget', '?')}`: {stage1}; {stage2}; labels: {labels}; {when} (s): {seconds}"
            )
        else:
            budget = recipe.get("budget", {})
            name = budget.get("name", "?") if isinstance(budget, Mapping) else budget
            lines.append(
                "- trained here from scratch (random init, no pretrained weights) by `rerank.train.recipe.scratch_models`, "
                f"budget `{name}`, labels: {labels}; {when} (s): {seconds}"
            )
    if models.get("fallback"):
        lines.append(f"- the pretrained recipe was not used: {models['fallback']}")
    return lines or ["- none (BM25 only)"]


def _subset_table(result: Mapping[str, Any], name: str) -> list[str]:
    subset = result.get("subsets", {}).get(name)
    if not subset:
        return []
    metrics = [m for m in ("ndcg@10", "recall@100") if m in result["metrics"]]
    lines = [
        f"## {name.capitalize()} queries ({subset['queries']}: {subset['description']})",
        "| stage | " + " | ".join(_label(m) for m in metrics) + " |",
        "|---|" + "---|" * len(metrics),
    ]
    for stage, values in subset["stages"].items():
        lines.append(f"| {stage} | " + " | ".join(_fmt(values.get(m)) for m in metrics) + " |")
    return [*lines, ""]


def render_report(result: Mapping[str, Any], config: Any, env: Mapping[str, Any] | None = None) -> str:
    """The whole report.md of a run."""
    env = env or {}
    sig = result.get("significance", {})
    level = result["relevance_level"]
    out = [
        f"# {result['dataset']} ({result['split']}): stage by stage",
        "",
        f"{result['documents']:,} documents, {result['queries']:,} judged queries, {result['judgements']:,} "
        f"judgements; source `{result['source']}`.",
        *(f"> {note}" for note in result.get("notes", [])),
        "",
        "## Models",
        *_models(result),
        "",
        "## Stages",
        stage_table(result),
        "",
        f"Superscripts: significantly better than the stage of that letter ({sig.get('test', 'student')} paired "
        f"test over queries, p < {sig.get('max_p', 0.05)}), tested on nDCG@10, MRR@10 and R@100. "
        + (
            "`ceiling R@k`: stage-1 recall at the rerank depth, the most any reranker of those candidates can find. "
            if "dense+rerank" in result["stages"]
            else ""
        )
        + f"Latency: one query at a time over {result.get('latency', {}).get(next(iter(result.get('latency', {})), ''), {}).get('n', 0)} "
        "sampled queries (p50/p95 ms; q/s = 1000 / mean ms).",
        "",
    ]
    out += _subset_table(result, "unseen")
    refs = result.get("references", [])
    if refs:
        out += ["## Published figures", "| stage | metric | this run | published | tolerance | status | source |", "|---|---|---|---|---|---|---|"]
        for r in refs:
            published = f"{r['low']:.3f}" if r["low"] == r["high"] else f"{r['low']:.3f}-{r['high']:.3f}"
            out.append(
                f"| {r['stage']} | {_label(r['metric'])} | {r['value']:.4f} | {published} | ±{r['tolerance']} | "
                f"{r['status']} | {r['source']} |"
            )
        out.append("")
    if result.get("sweep"):
        out += ["## Depth sweep (dense + rerank)", _sweep_table(result["sweep"]), "", "![quality against latency](tradeoff.png)", ""]
    pairs = sig.get("pairs", [])
    if pairs:
        out += ["## Paired tests", "| a | b | metric | mean a | mean b | p |", "|---|---|---|---|---|---|"]
        for p in pairs:
            mark = " *" if p["significant"] else ""
            out.append(
                f"| {p['a']} | {p['b']} | {_label(p['metric'])} | {p['mean_a']:.4f} | {p['mean_b']:.4f} | {p['p_value']:.3g}{mark} |"
            )
        out.append("")
    depths = result.get("depths", {})
    bm25 = getattr(config, "bm25", None)
    out += [
        "## How it was run",
        f"- Every stage scored by ranx on the same qrels; all {result['queries']} judged queries count (a query "
        "with no hits scores 0). nDCG uses graded gains (trec_eval's ndcg_cut); MRR and recall count a document "
        f"relevant at grade >= {level}" + (" (the TREC DL convention for graded qrels)." if level > 1 else "."),
        f"- Stage-1 runs are {depths.get('retrieval')} deep.",
    ]
    if "dense+rerank" in result["stages"]:
        out += [
            f"- The reranker scored each query's top {depths.get('reranked')} dense candidates once; `dense+rerank` "
            f"reorders the top {depths.get('candidates')} by those scores and keeps stage 1's order below them. Every "
            "sweep depth d reorders the top d with the same scores (a cross-encoder scores each pair alone), so the "
            "sweep costs one reranking pass; its latency is timed separately per depth on the sampled queries. Only "
            "stage-1 candidates are reranked, never added judged documents.",
            f"- dense+rerank latency = stage-1 search (k = {depths.get('candidates')}) + reranking, summed per query.",
        ]
        counts = result.get("counts", {})
        info = counts.get("reranker", {})
        if counts.get("rerank_pairs"):
            out.append(
                f"- Reranking pass: {counts['rerank_pairs']:,} pairs, {counts.get('rerank_truncated', 0):,} truncated to "
                f"the reranker's {info.get('max_length', '?')} tokens (passage cut, query kept)"
                + (
                    f"; {info.get('backend', 'packed' if info.get('packed') else 'torch')} forward in "
                    f"{info.get('precision', 'fp32')}, {info.get('workers')} "
                    f"worker{'s' if info.get('workers') != 1 else ''}."
                    if info else "."
                )
            )
    if "hybrid" in result["stages"]:
        out.append(
            f"- hybrid: ranx fusion `{getattr(config, 'fusion', 'rrf')}` of the BM25 and dense runs; its latency is "
            "BM25 + dense, summed per query."
        )
    if bm25 is not None and ("bm25" in result["stages"] or "hybrid" in result["stages"]):
        out.append(
            f"- BM25 (bm25s): title + text, lowercased, stopwords `{bm25.stopwords}`, stemmer `{bm25.stemmer}`, "
            f"{bm25.method} k1={bm25.k1} b={bm25.b}."
        )
    out += ["", "## Timings (s)", "| phase | seconds |", "|---|---|"]
    out += [f"| {k} | {v:.1f} |" for k, v in result.get("timings_s", {}).items()]
    if env:
        libs = env.get("libraries", {})
        out += [
            "",
            "## Environment",
            f"- {env.get('cpu')} ({env.get('cpu_count')} CPUs, torch threads {env.get('torch_threads')}), "
            f"GPU: {env.get('gpu') or 'none'}; matmul peak {env.get('matmul_peak_gflops', '-')} GFLOP/s measured in this run",
            "- " + ", ".join(f"{k} {v}" for k, v in libs.items()),
        ]
    return "\n".join(out) + "\n"
