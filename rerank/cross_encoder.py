"""Stage 2: `CrossEncoderReranker`, any sentence-transformers CrossEncoder as a `Reranker`.

How a call runs: each distinct query and passage of the call (all queries together) is tokenized
once, and the pairs are joined from those tokens with the tokenizer's own special tokens
(`rerank.pairs`), keeping the query and cutting the passage at the model's maximum length; pairs are
sorted by length and grouped into batches by a token budget. BERT cross-encoders on a CPU (a BERT
classifier, as most are, or the mean-pooling head of `rerank.train.initial.mean_pooling_cross_encoder`)
then run through `PackedBert` (no padding, a [CLS]-only last layer for the classifier, fused kernels),
one batch per worker thread; any other model runs through its own sentence-transformers forward on padded,
length-sorted batches of the same tokens.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from rerank.calibration import read_calibration
from rerank.loading import load_cross_encoder
from rerank.fusion import fuse_stage1
from rerank.outputs import PairScores, activation_for, scores_from_logits
from rerank.pair_template import PairTemplate
from rerank.pairs import EncodedPairs, encode_pairs, token_batches
from rerank.precision import AUTO, default_precision
from rerank.reranker_ensemble import ENSEMBLE_FILE, RerankerEnsemble, is_reranker_ensemble
from retrieval.encoder import BACKENDS, document_text
from retrieval.cpu import int8_engine, quantized_engine
from retrieval.ensemble_files import read_ensemble
from retrieval.errors import QueryTruncatedWarning
from retrieval.texts import cap_tokens, check_texts
from retrieval.types import Hit

__all__ = ["PRECISIONS", "RERANK_BACKENDS", "CrossEncoderReranker", "RerankStats"]

logger = logging.getLogger(__name__)

RERANK_BACKENDS = BACKENDS  # the encoder's names: one option, the same values, for both stages
_EXPORTED = ("onnx", "openvino")
PRECISIONS = ("fp32", "int8", "bf16")
_PROGRESS_PAIRS = 2000  # show a progress bar for calls with more pairs than this (show_progress=None)


@dataclass(frozen=True)
class RerankStats:
    """What the last call did: pairs, their tokens, truncations, batches and seconds."""

    pairs: int
    tokens: int
    truncated: int
    query_truncated: int
    batches: int
    seconds: float


class CrossEncoderReranker:
    """Rescores stage-1 candidates with a cross-encoder; scores are probabilities.

    Args:
        model: a loaded ``sentence_transformers.CrossEncoder`` with one or two labels.
        name: the hub name or path it was loaded from.
        max_length: tokens per pair (query and passage); default the model's own maximum.
        max_tokens: token budget of one batch. Default: 2048 for the packed forward on a CPU (small
            enough for the workers' activations to stay in cache), 8192 for padded batches on a CPU,
            32768 on a GPU.
        workers: CPU threads that each run one batch at a time with one intra-op thread (default: the
            number of torch threads); 1 runs batches one after another with all torch threads.
        int8: run the linear layers with int8 dynamic quantisation (CPU; faster, approximate): torch's
            for the torch and packed backends (weights packed for oneDNN on CPUs with AMX,
            `retrieval.cpu.int8_engine`), ONNX Runtime's for ``backend="onnx"``. The same as
            ``precision="int8"``.
        precision: ``None`` or ``"auto"`` (default: `rerank.precision.default_precision`, bf16 on CPUs
            with AMX tiles for the packed and openvino paths, else fp32; int8 when `int8`),
            ``"fp32"`` (scores equal to the model's own forward), ``"int8"`` (as `int8`) or ``"bf16"``:
            the model's weights and activations in bfloat16 (converted in place when asked for by name,
            on a copy when chosen by default; under ``backend="openvino"`` OpenVINO's bf16 inference
            precision instead), which CPUs with AMX run several times faster than fp32; approximate.
            ``benchmarks.perf_rerank`` measures each against fp32 (docs/speed.md).
        packed: use the padding-free BERT forward; default: when `PackedBert` supports the model, on CPU.
            The older spelling of `backend` (True: "packed", False: "torch"); give one or the other.
        backend: ``"auto"`` (default: "packed" where `PackedBert` supports the model on CPU, else
            "torch"), ``"torch"`` (the model's own padded forward), ``"packed"`` (`rerank.packed_bert`)
            ``"onnx"`` (ONNX Runtime on an export cached by weights checksum, `retrieval.onnx_forward`;
            CPU; needs the ``onnx`` extra) or ``"openvino"`` (OpenVINO compiling the same export,
            `retrieval.openvino_forward`; CPU; fp32 or bf16; needs the ``openvino`` extra).
            ``benchmarks.perf_rerank`` compares them on the same pairs.
        calibration: the calibrated cut-off (``calibration.json``); `threshold` comes from it.
        show_progress: a progress bar per call; default: for calls of more than 2,000 pairs.

    Attributes:
        threshold: the calibrated probability cut-off, or None.
        last_stats: `RerankStats` of the last call.

    Example:
        >>> reranker = CrossEncoderReranker.load("cross-encoder/ms-marco-MiniLM-L6-v2")  # doctest: +SKIP
        >>> reranker.predict([("what is faiss", "FAISS is a library for vector search")])  # doctest: +SKIP
        array([0.93], dtype=float32)
    """

    def __init__(
        self,
        model: Any,
        name: str,
        max_length: int | None = None,
        max_tokens: int | None = None,
        workers: int | None = None,
        int8: bool = False,
        packed: bool | None = None,
        calibration: dict[str, Any] | None = None,
        show_progress: bool | None = None,
        backend: str = "auto",
        precision: str | None = None,
        _owned: bool = False,
    ) -> None:
        import torch

        from rerank.packed_bert import PackedBert

        self.model = model.eval()
        self.name = str(name)
        self.num_labels = int(model.num_labels)
        self._activation = activation_for(self.num_labels)
        # Recorded with the model: saving it (model.save) writes the activation in use to its config.
        model.activation_fn = torch.nn.Sigmoid() if self._activation == "sigmoid" else torch.nn.Softmax(dim=-1)
        self.tokenizer = model.tokenizer
        self.max_length = self._resolve_max_length(max_length)
        on_cpu = model.device.type == "cpu"
        if backend not in RERANK_BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(RERANK_BACKENDS)}, got {backend!r}")
        if packed is not None and backend != "auto":
            raise ValueError(
                f"packed={packed} and backend={backend!r}: give one of them (packed=True is backend='packed')"
            )
        if backend != "auto":
            packed = backend == "packed"
        if backend in _EXPORTED and not on_cpu:
            raise ValueError(f"backend={backend!r} runs on the CPU only; load the model with device='cpu'")
        self.backend = backend
        if packed is None:
            packed = on_cpu and PackedBert.supports(model)
        elif packed and not PackedBert.supports(model):
            raise ValueError(f"packed=True needs a BERT cross-encoder: {PackedBert.unsupported_reason(model)}")
        chosen = precision in (None, AUTO)
        if chosen:
            precision = default_precision(on_cpu, bool(packed), backend, int8)
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {AUTO}, {', '.join(PRECISIONS)}, got {precision!r}")
        if int8 and precision != "int8":
            raise ValueError(f"int8=True and precision={precision!r}: give one of them (int8=True is precision='int8')")
        int8 = precision == "int8"
        if int8 and not on_cpu:
            raise ValueError("int8=True runs on the CPU only; load the model with device='cpu'")
        if precision == "int8" and backend == "openvino":
            raise ValueError(
                "backend='openvino' runs fp32 or bf16 (its int8 variants measured no faster than its bf16 and further "
                "from fp32 on this project's CPU, docs/speed.md); "
                "for int8 use backend='packed' or 'onnx'"
            )
        if precision == "bf16" and backend == "onnx":
            raise ValueError("precision='bf16' runs on the torch, packed and openvino backends; use backend='packed'")
        if precision == "bf16" and backend != "openvino":
            if chosen and not _owned:  # a default never changes the caller's model: convert a copy
                model = copy.deepcopy(model)
                self.model = model
            model.to(torch.bfloat16)
        self.precision = precision
        self.int8 = bool(int8)
        self.packed = PackedBert(model, int8=self.int8) if packed else None
        self.onnx = None  # the exported forward: ONNX Runtime or OpenVINO (backend "onnx" or "openvino")
        if backend == "onnx":
            from retrieval.onnx_forward import OnnxForward

            self.onnx = OnnxForward(model, threads=torch.get_num_threads(), output="scores", int8=self.int8)
        elif backend == "openvino":
            from retrieval.openvino_forward import OpenVinoForward

            self.onnx = OpenVinoForward(model, threads=torch.get_num_threads(), output="scores", precision=precision)
        elif self.int8 and self.packed is None:
            with warnings.catch_warnings(), quantized_engine(int8_engine()):  # torch marks quantized tensors deprecated
                warnings.simplefilter("ignore", UserWarning)
                torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
        self.workers = max(1, int(workers if workers is not None else (torch.get_num_threads() if on_cpu else 1)))
        if self.packed is None:
            self.workers = 1  # the padded forward uses torch's own intra-op threads
        if max_tokens is None:
            max_tokens = max(self.max_length, 2048 if self.packed is not None else 8192 if on_cpu else 32768)
        self.max_tokens = int(max_tokens)
        if self.max_tokens < self.max_length:
            raise ValueError(f"max_tokens ({max_tokens}) must hold at least one pair of max_length {self.max_length}")
        self.calibration = calibration
        if calibration and calibration.get("activation") not in (None, self._activation):
            raise ValueError(
                f"{self.name}: calibration.json was fitted on {calibration['activation']} probabilities, but this "
                f"model's {self.num_labels} label(s) are read with {self._activation}; recalibrate the model"
            )
        self.threshold: float | None = float(calibration["threshold"]) if calibration else None
        # Chosen on held-out training queries (rerank.fusion); 0 scores the pairs alone.
        self.stage1_weight = float((calibration or {}).get("stage1_weight", 0.0) or 0.0)
        self.stage1_mean = float((calibration or {}).get("stage1_mean", 0.0))
        self.stage1_std = float((calibration or {}).get("stage1_std", 1.0))
        # Sentence-level stage-1 evidence (`retrieval.sentences`), fused the same way; absent = 0.
        self.sentence_weight = float((calibration or {}).get("sentence_weight", 0.0) or 0.0)
        self.sentence_mean = float((calibration or {}).get("sentence_mean", 0.0))
        self.sentence_std = float((calibration or {}).get("sentence_std", 1.0))
        self.show_progress = show_progress
        self.last_stats: RerankStats | None = None
        self._lock = threading.Lock()  # tokenizer and thread settings are not safe to share
        self._pool: ThreadPoolExecutor | None = None
        self._template = PairTemplate.of(self.tokenizer)  # how this tokenizer joins a pair, read once
        self._pads: dict[str, Any] | None = None
        if self.packed is None:
            self._pads = self._padding()

    @classmethod
    def load(
        cls,
        model: str,
        device: str | None = None,
        max_length: int | None = None,
        max_tokens: int | None = None,
        workers: int | None = None,
        int8: bool = False,
        packed: bool | None = None,
        show_progress: bool | None = None,
        backend: str = "auto",
        precision: str | None = None,
        **kwargs: Any,
    ) -> CrossEncoderReranker | RerankerEnsemble:
        """Load any sentence-transformers CrossEncoder by hub name or local path.

        A local folder's ``calibration.json`` (from training) sets `threshold`. Extra keyword
        arguments go to ``sentence_transformers.CrossEncoder`` (``revision``, ``model_kwargs``, ...).
        A folder written by `rerank.reranker_ensemble.save_reranker_ensemble` loads as a
        `RerankerEnsemble` of its parts, each loaded here with these options.
        """
        if is_reranker_ensemble(model):
            names, weights = read_ensemble(Path(model) / ENSEMBLE_FILE)
            options = dict(
                device=device, max_length=max_length, max_tokens=max_tokens, workers=workers, int8=int8,
                packed=packed, show_progress=show_progress, backend=backend, precision=precision, **kwargs,
            )
            parts = [cls.load(str(Path(model) / part), **options) for part in names]
            return RerankerEnsemble(parts, str(model), weights, read_calibration(model))
        loaded = load_cross_encoder(str(model), device, max_length, **kwargs)
        return cls(
            loaded,
            str(model),
            max_length=max_length,
            max_tokens=max_tokens,
            workers=workers,
            int8=int8,
            packed=packed,
            calibration=read_calibration(model),
            show_progress=show_progress,
            backend=backend,
            precision=precision,
            _owned=True,
        )

    def _resolve_max_length(self, max_length: int | None) -> int:
        limit = getattr(getattr(self.model, "config", None), "max_position_embeddings", None) or 512
        value = max_length or self.model.max_seq_length or limit
        if value > limit and max_length is None:  # a tokenizer without a recorded maximum says 1e30
            value = limit
        if value > limit:
            raise ValueError(f"max_length {value} exceeds the model's {limit} position embeddings")
        return int(value)

    @property
    def activation(self) -> str:
        """``"sigmoid"`` (one logit) or ``"softmax"`` (two logits): how logits become probabilities."""
        return self._activation

    def info(self) -> dict[str, Any]:
        """What this reranker is: model, activation, labels, maximum length, threshold, fast path."""
        return {
            "name": self.name,
            "activation": self.activation,
            "num_labels": self.num_labels,
            "max_length": self.max_length,
            "threshold": self.threshold,
            "stage1_weight": self.stage1_weight,
            "sentence_weight": self.sentence_weight,
            "backend": self._backend_used(),
            "packed": self.packed is not None,
            "int8": self.int8,
            "precision": self.precision,
            "workers": self.workers,
            "max_tokens": self.max_tokens,
        }

    def _backend_used(self) -> str:
        if self.onnx is not None:
            return self.backend  # "onnx" or "openvino": only they make an exported forward
        return "packed" if self.packed is not None else "torch"

    # -- scoring -------------------------------------------------------------------------------

    def score(self, queries: Sequence[str], candidates: Sequence[Sequence[Hit]]) -> list[np.ndarray]:
        """Probabilities for each query's candidates, all pairs of all queries in one pass.

        When the model's calibration has a `stage1_weight` w > 0, each logit gets ``w * z`` added
        before the activation, z being the candidate's stage-1 score standardised with the
        calibrated `stage1_mean` and `stage1_std` (`rerank.fusion`); the calibrated threshold was
        fitted on those fused probabilities. A `sentence_weight` adds each hit's `sentence_score`
        the same way (the `Searcher` sets it; elsewhere wrap the reranker with
        `retrieval.with_sentence_scores`).
        """
        return [scores_from_logits(row, self.activation).scores for row in self.fused_logits(queries, candidates)]

    def fused_logits(self, queries: Sequence[str], candidates: Sequence[Sequence[Hit]]) -> list[np.ndarray]:
        """The logits `score` turns into probabilities, per query, with the calibrated evidence added
        (float64 where any is: `rerank.fusion.fuse_stage1`)."""
        if isinstance(queries, str):
            raise TypeError("score takes a list of queries (one per candidate list)")
        if len(queries) != len(candidates):
            raise ValueError(f"{len(queries)} queries but {len(candidates)} candidate lists; pass one list per query")
        flat_q = [q for q, hits in zip(queries, candidates) for _ in hits]
        flat_p = [document_text(h) for hits in candidates for h in hits]
        logits = self._logits(flat_q, flat_p)
        bounds = np.cumsum([0] + [len(hits) for hits in candidates])
        lists = [logits[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        evidence = (
            ("stage1", self.stage1_weight, self.stage1_mean, self.stage1_std, "pass stage 1's hits"),
            ("sentence", self.sentence_weight, self.sentence_mean, self.sentence_std,
             "search through a Searcher, or set them with retrieval.with_sentence_scores(reranker, encoder)"),
        )
        for name, weight, mean, std, fix in evidence:
            if not weight:
                continue
            missing = [i for i, hits in enumerate(candidates) if any(getattr(h, f"{name}_score") is None for h in hits)]
            if missing:
                raise ValueError(
                    f"{self.name} adds {name} evidence ({name}_weight {weight:g} in calibration.json), but candidate "
                    f"list {missing[0]} has hits without {name}_score; {fix}"
                )
            lists = [
                fuse_stage1(row, [getattr(h, f"{name}_score") for h in hits], weight, mean, std)
                for row, hits in zip(lists, candidates)
            ]
        return list(lists)

    def predict(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Ranking scores (probability of relevance) of (query, passage) pairs alone, float32 (no stage-1 weight)."""
        return self.outputs(pairs).scores

    def outputs(self, pairs: Sequence[tuple[str, str]]) -> PairScores:
        """Logits, probabilities, predicted classes and ranking scores of (query, passage) pairs."""
        if isinstance(pairs, tuple) and len(pairs) == 2 and all(isinstance(p, str) for p in pairs):
            raise TypeError("pass a list of (query, passage) pairs, e.g. [(query, passage)]")
        pairs = list(pairs)
        for i, pair in enumerate(pairs):
            if len(pair) != 2 or not all(isinstance(t, str) for t in pair):
                raise TypeError(f"pair {i} must be a (query, passage) tuple of two strings, got {pair!r:.80}")
        return self.outputs_for([p[0] for p in pairs], [p[1] for p in pairs])

    def outputs_for(self, queries: Sequence[str], passages: Sequence[str]) -> PairScores:
        """`outputs` of pairs given as two aligned lists."""
        return scores_from_logits(self._logits(list(queries), list(passages)), self.activation)

    def _fit_queries(self, queries: list[str]) -> list[str]:
        """Queries far longer than a pair's window cut to the window's tokens before pairing.

        The pairs' own truncation keeps the same tokens; a huge query is then tokenized once, and
        only its first window, instead of once in full per candidate.
        """
        limit = 8 * self.max_length  # characters; shorter queries cost little as they are
        fitted = {q: cap_tokens(self.tokenizer, q, self.max_length)[0] for q in set(queries) if len(q) > limit}
        return [fitted.get(q, q) for q in queries] if fitted else queries

    def _logits(self, queries: list[str], passages: list[str]) -> np.ndarray:
        start = time.perf_counter()
        if not queries:
            return np.zeros((0, self.num_labels), dtype=np.float32)
        check_texts(queries, "query")
        check_texts(passages, "passage")
        with self._lock:
            queries = self._fit_queries(queries)
            enc = encode_pairs(self.tokenizer, queries, passages, self.max_length, self._template)
            if self.packed is not None:
                logits, batches = self._run_packed(enc)
            else:
                logits, batches = self._run_padded(queries, passages, enc)
        n = len(queries)
        self.last_stats = RerankStats(
            n, int(enc.lengths.sum()), enc.truncated, enc.query_truncated, batches, time.perf_counter() - start
        )
        if enc.truncated:
            cut_queries = ""
            if enc.query_truncated:
                cut_queries = f"; {enc.query_truncated} queries were too long and cut as well"
            logger.warning(
                "reranker truncated %d of %d (query, passage) pairs to the model's maximum of %d tokens "
                "(passage cut, query kept%s)",
                enc.truncated,
                n,
                self.max_length,
                cut_queries,
            )
        if enc.query_truncated:
            warnings.warn(
                f"{enc.query_truncated} of {n} (query, passage) pairs: the query alone fills the window; the reranker "
                f"reads at most {self.max_length} tokens per pair, so the query was cut to its first tokens and the "
                "passage to what fits beside them",
                QueryTruncatedWarning,
                stacklevel=2,
            )
        return logits

    def _progress(self, n_pairs: int, total: int) -> Any:
        from tqdm.auto import tqdm

        show = self.show_progress if self.show_progress is not None else n_pairs > _PROGRESS_PAIRS
        return tqdm(total=total, desc="rerank batches", disable=not show)

    def _run_packed(self, enc: EncodedPairs) -> tuple[np.ndarray, int]:
        import torch

        batches = token_batches(enc.lengths, self.max_tokens, padded=False, parts=self.workers)
        out = np.empty((len(enc.lengths), self.num_labels), dtype=np.float32)
        device = self.model.device
        single = self.workers == 1 or len(batches) == 1

        def run(rows: np.ndarray) -> None:
            if not single:
                torch.set_num_threads(1)  # per worker thread: one core each, no barrier between them
            ids = torch.tensor(list(chain.from_iterable(enc.input_ids[i] for i in rows)), device=device)
            if enc.token_type_ids is None:
                types = torch.zeros_like(ids)
            else:
                types = torch.tensor(list(chain.from_iterable(enc.token_type_ids[i] for i in rows)), device=device)
            out[rows] = self.packed(ids, types, enc.lengths[rows].tolist()).float().cpu().numpy()

        with self._progress(len(enc.lengths), len(batches)) as bar:
            if single:
                for rows in batches:
                    run(rows)
                    bar.update()
            else:
                threads = torch.get_num_threads()
                try:
                    for _ in self._executor().map(run, batches):
                        bar.update()
                finally:
                    torch.set_num_threads(threads)  # the default new threads start with
        return out, len(batches)

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="rerank")
        return self._pool

    def _run_padded(self, queries: list[str], passages: list[str], enc: EncodedPairs) -> tuple[np.ndarray, int]:
        import torch

        batches = token_batches(enc.lengths, self.max_tokens, padded=True)
        out = np.empty((len(queries), self.num_labels), dtype=np.float32)
        with self._progress(len(queries), len(batches)) as bar, torch.inference_mode():
            for rows in batches:
                features = _padded_features(enc, rows, self._pads) if self._pads is not None else None
                if features is None:
                    strategy = "longest_first" if enc.query_cut[rows].any() else "only_second"
                    features = self.model.preprocess(
                        [(queries[i], passages[i]) for i in rows],
                        processing_kwargs={"text": {"truncation": strategy, "max_length": self.max_length}},
                    )
                if self.onnx is not None:
                    out[rows] = self.onnx(features).reshape(len(rows), -1)
                else:
                    features = {k: v.to(self.model.device) if hasattr(v, "to") else v for k, v in features.items()}
                    logits = self.model(features)["scores"].float()
                    out[rows] = logits.reshape(len(rows), -1).cpu().numpy()
                bar.update()
        return out, len(batches)

    def _padding(self) -> dict[str, Any] | None:
        """What `_padded_features` adds to the pairs' ids: the model's own features of a probe batch,
        or None when building them here does not reproduce `preprocess` (the batches then tokenize)."""
        tok = self.tokenizer
        if getattr(tok, "padding_side", "right") != "right" or tok.pad_token_id is None:
            return None
        probe = [("a short query", "a passage of a few more words"), ("query", "passage")]
        try:
            reference = self.model.preprocess(
                probe, processing_kwargs={"text": {"truncation": "only_second", "max_length": self.max_length}}
            )
        except Exception:  # noqa: BLE001 - a model without `preprocess` keeps its own path
            return None
        extra = {k: v for k, v in reference.items() if k not in ("input_ids", "attention_mask", "token_type_ids")}
        pads = {"pad": int(tok.pad_token_id), "extra": extra}
        enc = encode_pairs(tok, [q for q, _ in probe], [p for _, p in probe], self.max_length, self._template)
        built = _padded_features(enc, np.arange(len(probe)), pads)
        same = set(built) == set(reference) and all(
            built[k].equal(v) if hasattr(v, "equal") else built[k] == v for k, v in reference.items()
        )
        return pads if same else None

    def __del__(self) -> None:
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown(wait=False)


def _padded_features(enc: EncodedPairs, rows: np.ndarray, pads: dict[str, Any]) -> dict[str, Any]:
    """The padded batch `preprocess` would give `rows`, from their ids (right padding)."""
    import torch

    width = int(enc.lengths[rows].max())
    ids = np.full((len(rows), width), pads["pad"], dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    types = np.zeros((len(rows), width), dtype=np.int64) if enc.token_type_ids is not None else None
    for j, i in enumerate(rows):
        n = int(enc.lengths[i])
        ids[j, :n] = enc.input_ids[i]
        mask[j, :n] = 1
        if types is not None:
            types[j, :n] = enc.token_type_ids[i]
    features = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
    if types is not None:
        features["token_type_ids"] = torch.from_numpy(types)
    return {**features, **pads["extra"]}
