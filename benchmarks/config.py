"""Benchmark setups as data: frozen dataclasses that round-trip to JSON and TOML.

A run's configuration is resolved in layers: the defaults below, then the dataset's own file
``benchmarks/configs/<dataset>.toml`` (with the published scores to check against), then a user's
``--config`` file, then command-line options. The resolved config is saved beside the results.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval.config_io import checked_fields

__all__ = [
    "BM25Params",
    "BenchmarkConfig",
    "CONFIG_DIR",
    "DEFAULT_DATA_DIR",
    "Reference",
    "STAGES",
    "dataset_config_path",
    "load_config",
    "to_toml",
]

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
# Where datasets are looked for unless --data-dir says otherwise.
DEFAULT_DATA_DIR = os.environ.get("TWOSTAGE_DATA_DIR", "data")
# "dense-pretrained" is the hub encoder as it is (zero-shot); "dense" the run's encoder (given, from
# the hub, or fine-tuned/trained by a recipe); "dense+rerank" the reranker over dense's candidates.
STAGES = ("bm25", "dense-pretrained", "dense", "dense+rerank", "hybrid")


@dataclass(frozen=True)
class BM25Params:
    """The BM25 baseline (bm25s). The defaults give the published SciFact figures.

    Documents are indexed as ``title + " " + text``, lowercased, split on ``\\w\\w+``, English
    stopwords removed and stemmed with the Snowball English stemmer (PyStemmer ``"english"``);
    Lucene's BM25 variant with k1=1.5, b=0.75.
    """

    k1: float = 1.5
    b: float = 0.75
    method: str = "lucene"
    stemmer: str = "english"  # a PyStemmer algorithm ("english" is Snowball, "porter"), or "none"
    stopwords: str = "en"  # "en" or "none"


@dataclass(frozen=True)
class Reference:
    """A published score and the tolerance a run must land within.

    `applies_to` names the model the figure was published for (empty: any, as for BM25); the
    check is skipped, and said so, when the run used another model. `split`, when set, limits
    the figure to runs on that split (``msmarco`` is scored on ``dev`` online, ``dl19`` offline).
    """

    stage: str
    metric: str
    low: float
    high: float
    tolerance: float = 0.01
    source: str = ""
    applies_to: str = ""
    split: str = ""

    def contains(self, value: float) -> bool:
        """Whether `value` lies within [low - tolerance, high + tolerance]."""
        return self.low - self.tolerance <= value <= self.high + self.tolerance


@dataclass(frozen=True)
class BenchmarkConfig:
    """Everything a benchmark run depends on.

    Example:
        >>> config = BenchmarkConfig(dataset="scifact", stages=("bm25",))
        >>> BenchmarkConfig.from_dict(json.loads(config.to_json())) == config
        True
    """

    dataset: str
    data_dir: str = DEFAULT_DATA_DIR
    split: str = "test"
    out: str | None = None  # the run's results folder; default results/<dataset>-<timestamp>
    stages: tuple[str, ...] = STAGES
    # Models: a hub name or a local path each; None tries the hub names below, then a recipe that
    # trains both (benchmarks.models: fine-tuned from hub_encoder when it can be had, else from scratch).
    encoder: str | None = None
    reranker: str | None = None
    hub_encoder: str = "sentence-transformers/all-MiniLM-L6-v2"
    hub_reranker: str = "cross-encoder/ms-marco-MiniLM-L-6-v2"
    cache_dir: str = ".cache/benchmarks"
    # The recipes' budget (rerank.train.pretrained_recipe.PRESETS / rerank.train.recipe.PRESETS): "default" or "fast".
    scratch_budget: str = "default"
    # Depths: stage-1 run depth (for recall@1000), the rerank depth of the dense+rerank stage,
    # and the candidate depths of the sweep.
    retrieval_depth: int = 1000
    candidates: int = 100
    depths: tuple[int, ...] = (10, 20, 50, 100)
    sweep: bool = True
    latency_queries: int = 16
    metrics: tuple[str, ...] = ("ndcg@10", "mrr@10", "recall@10", "recall@100", "recall@1000")
    # Lowest grade a binary metric (MRR, recall) counts as relevant; None: the dataset's own
    # (2 for the graded TREC DL qrels, 1 otherwise). nDCG always uses every grade.
    relevance_level: int | None = None
    fusion: str = "rrf"
    fusion_norm: str = "min-max"
    max_queries: int | None = None
    pool_size: int = 100_000
    seed: int = 0
    batch_size: int = 128
    device: str | None = None
    # Where the query encoder runs (`retrieval.encoder.BACKENDS`): "auto" puts single queries on ONNX Runtime where installed.
    backend: str = "auto"
    # The cross-encoder's precision: "auto" (`rerank.precision.default_precision`: bf16 on AMX CPUs, else
    # fp32), or one of `rerank.cross_encoder.PRECISIONS`: fp32, int8, bf16.
    reranker_precision: str = "auto"
    # Where the cross-encoder runs (`rerank.cross_encoder.RERANK_BACKENDS`, the same names): "auto" is the packed forward for
    # BERT cross-encoders on CPU, else torch.
    reranker_backend: str = "auto"
    threads: int | None = None
    stat_test: str = "student"
    max_p: float = 0.05
    bm25: BM25Params = field(default_factory=BM25Params)
    references: tuple[Reference, ...] = ()

    def __post_init__(self) -> None:
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown:
            raise ValueError(f"unknown stage(s) {unknown}; choose from {list(STAGES)}")
        if not self.stages:
            raise ValueError(f"no stages selected; choose from {list(STAGES)}")
        bad = [d for d in (*self.depths, self.candidates, self.retrieval_depth) if not isinstance(d, int) or d < 1]
        if bad:
            raise ValueError(f"depths must be positive integers, got {bad}")
        from retrieval.encoder import BACKENDS

        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.reranker_precision not in ("auto", "fp32", "int8", "bf16"):
            raise ValueError(f"reranker_precision must be auto, fp32, int8 or bf16, got {self.reranker_precision!r}")
        if self.reranker_backend not in BACKENDS:  # the reranker takes the same names
            raise ValueError(f"reranker_backend must be one of {', '.join(BACKENDS)}, got {self.reranker_backend!r}")
        if self.stat_test not in ("student", "fisher"):
            raise ValueError(f"stat_test must be 'student' or 'fisher', got {self.stat_test!r}")

    @property
    def needs_encoder(self) -> bool:
        return any(s in self.stages for s in ("dense", "dense+rerank", "hybrid"))

    @property
    def needs_pretrained(self) -> bool:
        """Whether the hub encoder is scored as it is (the ``dense-pretrained`` stage)."""
        return "dense-pretrained" in self.stages

    @property
    def needs_reranker(self) -> bool:
        return "dense+rerank" in self.stages

    @property
    def rerank_depth(self) -> int:
        """The one depth the reranker scores, from which every smaller depth is derived."""
        return max((self.candidates, *self.depths)) if self.sweep else self.candidates

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BenchmarkConfig:
        """Build from a plain dict (JSON or TOML), refusing unknown keys by name."""
        values = checked_fields(cls, data)
        if "bm25" in values and not isinstance(values["bm25"], BM25Params):
            values["bm25"] = _build(BM25Params, values["bm25"], "bm25")
        if "references" in values:
            values["references"] = tuple(
                r if isinstance(r, Reference) else _build(Reference, r, "references") for r in values["references"]
            )
        for name in ("stages", "depths", "metrics"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)

    def merged(self, data: Mapping[str, Any]) -> BenchmarkConfig:
        """A copy with the keys of `data` replaced (nested bm25 keys merged); None values are ignored."""
        base = self.to_dict()
        for key, value in data.items():
            if value is None:
                continue
            if key == "bm25" and isinstance(value, Mapping):
                base["bm25"] = {**base["bm25"], **value}
            else:
                base[key] = value
        return BenchmarkConfig.from_dict(base)


def _build(cls: type, data: Mapping[str, Any], where: str) -> Any:
    return cls(**checked_fields(cls, data, "key(s)", where))


def dataset_config_path(dataset: str) -> Path | None:
    """The shipped config file of a named dataset, or None."""
    path = CONFIG_DIR / f"{dataset}.toml"
    return path if path.exists() else None


def load_config(dataset: str, config_file: str | Path | None = None, **overrides: Any) -> BenchmarkConfig:
    """Resolve a run's config: defaults, then configs/<dataset>.toml, then `config_file`, then overrides.

    Example:
        >>> load_config("scifact", stages=("bm25",)).references[0].stage
        'bm25'
    """
    config = BenchmarkConfig(dataset=dataset)
    shipped = dataset_config_path(dataset)
    for path in (shipped, config_file):
        if path is None:
            continue
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"config file {path} not found")
        with open(path, "rb") as handle:
            try:
                data = tomllib.load(handle)
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"{path}: not valid TOML ({exc})") from exc
        data.pop("dataset", None)
        config = config.merged(data)
    return config.merged(overrides)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def to_toml(data: Mapping[str, Any]) -> str:
    """Write a config dict as TOML: scalars and lists, one level of tables, arrays of tables.

    None values are left out (TOML has no null; reading falls back to the default, None).

    Example:
        >>> tomllib.loads(to_toml({"a": 1, "t": {"b": "x"}, "r": [{"c": 2.5}]}))
        {'a': 1, 't': {'b': 'x'}, 'r': [{'c': 2.5}]}
    """
    lines: list[str] = []
    tables: list[str] = []
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            tables += ["", f"[{key}]"] + [f"{k} = {_toml_value(v)}" for k, v in value.items() if v is not None]
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, Mapping) for v in value):
            for item in value:
                tables += ["", f"[[{key}]]"] + [f"{k} = {_toml_value(v)}" for k, v in item.items() if v is not None]
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines + tables) + "\n"
