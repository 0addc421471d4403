"""Benchmarks: test collections, metrics through ranx, and the harness `python -m benchmarks.run`.

Modules (one concept each; importing the package imports none of them):
    config    frozen run configuration, round-tripping to JSON/TOML; configs/<dataset>.toml
    datasets  BEIR folders, hub loaders, the dataset resolver; msmarco: dev-small subsets, DL19 mini
    trec      TREC/BEIR topics, qrels and run files
    metrics   metrics by name ("ndcg@10", "mrr@10", "recall@100") and paired tests, through ranx
    bm25      the bm25s baseline, set up as the published BEIR figures were
    stages    dense, dense+rerank and hybrid runs
    sweep     the rerank-depth sweep (a tidy table); plots: its PNGs
    models    which encoder/reranker a run uses (given, hub, or from scratch)
    harness   one whole run; results/report/environment: what it writes; run: the CLI
    peak      the machine's matmul yardstick
"""

__all__: list[str] = []
