"""Benchmarks: test collections, metrics through ranx, and the harness `python -m benchmarks.run`.

Modules (one concept each; importing the package imports none of them):
    paths           where the checkout, the shared folder ($TWOSTAGE_SHARED) and its datasets are
    config          frozen run configuration, round-tripping to JSON/TOML; configs/<dataset>.toml
    collection      the Dataset type, BEIR folders, query samples
    datasets        the dataset resolver and hub loaders; msmarco: dev-small subsets, DL19 mini
    trec            TREC/BEIR topics, qrels and run files
    metrics         metrics by name ("ndcg@10", "mrr@10", "recall@100") and paired tests, through ranx
    bm25            the bm25s baseline, set up as the published BEIR figures were
    stages          dense, dense+rerank and hybrid runs
    latency         per-query timing and its summary
    sweep           the rerank-depth sweep (a tidy table); plots: its PNGs and the figure helpers
    tradeoffs       the stage trade-off tables (tradeoff_curves) and figures (tradeoff_plots)
    models          which encoder/reranker a run uses (given, hub, or from scratch)
    hub             whether the Hugging Face hub is usable, and what its local cache holds
    harness         one whole run; results/report/environment: what it writes; run: the CLI
    peak            the machine's matmul yardstick
    perf/           the speed benchmarks' sections: perf_stage1 and perf_rerank are their CLIs
    quality_scratch, seed_spread, roundtrip_stage1: experiments on the from-scratch recipe and persistence
"""

__all__: list[str] = []
