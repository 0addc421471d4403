"""Stage-1 encoder: any sentence-transformers model, by hub name or local path."""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from indexes import Document
from retrieval.encoder_ensemble import ENSEMBLE_FILE, EncoderEnsemble, is_ensemble
from retrieval.encoder_manifest import check_encoder, describe_encoder
from retrieval.ensemble_files import read_ensemble
from retrieval.errors import ModelLoadError, QueryTruncatedWarning
from retrieval.texts import cap_tokens, check_texts

__all__ = [
    "BACKENDS",
    "BULK_ENCODING",
    "PRECISIONS",
    "Encoder",
    "ModelLoadError",
    "document_text",
    "load_sentence_transformer",
    "plan_batches",
]

_SIMILARITY_TO_METRIC = {"cosine": "cosine", "dot": "ip", "euclidean": "l2", "manhattan": "l2"}
# Query-side defaults: at most this many padded tokens per forward pass, and batches up to
# `_SMALL_BATCH_TOKENS` padded tokens run on `small_batch_threads` threads (benchmarks/perf_stage1.py times them).
_TOKEN_BUDGET = 2048
_SMALL_BATCH_TOKENS = 128
# `Encoder` options for encoding a whole corpus at once (indexing, mining, candidate lists): batches
# capped by count only, torch's own thread setting. The query-side defaults split a corpus into tiny
# batches when the model has no Hugging Face tokenizer to count tokens with (StaticEmbedding).
BULK_ENCODING = {"token_budget": 1 << 22, "small_batch_threads": None}
# Where a forward pass runs: "torch" everywhere; "packed" through the padding-free BERT forward
# (`retrieval.packed_forward`, CPU) everywhere; "onnx" through ONNX Runtime everywhere; "openvino"
# through OpenVINO everywhere; "auto" through ONNX Runtime for small batches (single queries) when it
# is installed and the model exports, torch for the rest (benchmarks/perf_stage1.py times each).
BACKENDS = ("auto", "torch", "packed", "onnx", "openvino")
_EXPORTED = ("onnx", "openvino")
# The encoder's arithmetic: "bf16" converts the model to bfloat16 (fast where the CPU has AMX or AVX-512 BF16);
# "int8" runs the packed forward's linear layers as int8 dynamic quantisation (the model's weights stay fp32).
PRECISIONS = ("fp32", "bf16", "int8")


def document_text(doc: Document | str) -> str:
    """The text a document is embedded as: title and body joined by a space (the BEIR convention)."""
    if isinstance(doc, str):
        return doc
    return f"{doc.title} {doc.text}".strip() if doc.title else doc.text


def _revision_of(path: str) -> str | None:
    match = re.search(r"snapshots/([0-9a-f]{40})", path)
    return match.group(1) if match else None


def load_sentence_transformer(name_or_path: str, device: str | None = None, **kwargs: Any) -> Any:
    """Load a SentenceTransformer, turning offline and not-found failures into one clear error."""
    from sentence_transformers import SentenceTransformer

    from retrieval.pretrained import offline_hint

    try:
        return SentenceTransformer(str(name_or_path), device=device, **kwargs)
    except (OSError, ValueError) as exc:
        local = Path(str(name_or_path)).exists()
        hint = (
            "the folder exists but is not a sentence-transformers model (no modules.json or config.json)"
            if local
            else "it is not a local folder, and the Hugging Face hub could not be reached or has no such model. "
            + offline_hint(str(name_or_path))
        )
        raise ModelLoadError(f"cannot load encoder {name_or_path!r}: {hint}. ({type(exc).__name__}: {exc})") from exc


def plan_batches(lengths: Sequence[int], max_texts: int, token_budget: int) -> list[list[int]]:
    """Group text positions into batches, longest first, each within `max_texts` and `token_budget`.

    A batch costs (texts x its longest text) padded tokens; sorting by length keeps the padding
    small. A text longer than the budget gets a batch of its own.

    Example:
        >>> plan_batches([5, 1, 3, 2], max_texts=2, token_budget=100)
        [[0, 2], [3, 1]]
        >>> plan_batches([5, 1, 3, 2], max_texts=8, token_budget=9)
        [[0], [2, 3, 1]]
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for i in order:
        if batches:
            batch = batches[-1]
            # sorted longest first, so the batch's first text is its longest
            if len(batch) < max_texts and (len(batch) + 1) * lengths[batch[0]] <= token_budget:
                batch.append(i)
                continue
        batches.append([i])
    return batches


def _listed(positions: list[int], shown: int = 5) -> str:
    more = f", ... ({len(positions)} in all)" if len(positions) > shown else ""
    return ", ".join(map(str, positions[:shown])) + more


def _pin_threads(threads: int) -> int:
    import torch

    torch.get_num_threads()  # initialise this thread's torch state first, or its first parallel call resets it
    torch.set_num_threads(threads)
    return torch.get_num_threads()


class _PinnedThread:
    """A worker thread whose torch runs on `threads` threads, leaving every other thread's setting alone.

    With torch's OpenMP backend the thread count is kept per thread, but `torch.set_num_threads`
    also sets the process default that a thread picks up at its first parallel call. The worker
    sets its own count once and the default is put back at once, so no other thread is affected
    (as long as none makes its first torch call in that instant). Where the count is per process
    (other backends) the worker cannot keep its own: `pinned` is then False and it is not used.
    """

    def __init__(self, threads: int) -> None:
        import torch

        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encoder-small-batches")
        previous = torch.get_num_threads()
        try:
            self._executor.submit(_pin_threads, threads).result()
        finally:
            torch.set_num_threads(previous)
        self.pinned = self.run(torch.get_num_threads) == threads and torch.get_num_threads() == previous

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._executor.submit(fn, *args).result()


def _text_tokenizer(model: Any) -> Any:
    """The Hugging Face tokenizer of the model's first module, if it has one (for length sorting)."""
    try:
        from transformers import PreTrainedTokenizerBase
    except ImportError:  # pragma: no cover
        return None
    first = next(iter(model), None) if hasattr(model, "__iter__") else None
    tokenizer = getattr(first, "tokenizer", None)
    return tokenizer if isinstance(tokenizer, PreTrainedTokenizerBase) else None


class Encoder:
    """Embeds queries and documents with a sentence-transformers model.

    Texts go through the model's own ``preprocess`` and forward pass (so embeddings equal
    ``SentenceTransformer.encode`` within float32 rounding), in batches sorted by token count and
    capped by a padded-token budget, which keeps padding, and so wasted work, small. Batches of a
    few tokens (a single query) run through ONNX Runtime by default (``backend="auto"``), which
    spends less per operator than eager torch; on an idle 2-core machine all cores serve one query
    faster than one core does, so `small_batch_threads` defaults to all of them. On a busy server
    one thread per query (``small_batch_threads=1``) leaves the cores to other queries
    (`benchmarks.perf_stage1` times both; docs/speed.md).

    Args:
        model: a loaded ``SentenceTransformer``.
        name: the hub name or path recorded in the index manifest.
        query_prompt, document_prompt: text prepended to queries / documents (e.g. ``"query: "``);
            by default the model's own ``query``/``document`` prompts when it defines them.
        batch_size: at most this many texts per forward pass.
        revision: the model revision, recorded in the manifest.
        token_budget: at most this many padded tokens (texts x longest) per forward pass.
        small_batch_threads: threads for batches of at most `small_batch_tokens` padded tokens
            (ONNX Runtime's session, or torch's in a worker thread of the encoder's own); ``None``
            (default): torch's thread count.
        small_batch_tokens: the padded size up to which a batch counts as small.
        backend: ``"auto"`` (default): small batches through ONNX Runtime where onnxruntime is
            installed and the model exports (`retrieval.onnx_forward`; the export is cached by
            weights checksum), everything else through torch; ``"torch"``: torch only; ``"packed"``:
            every batch through the padding-free BERT forward (`retrieval.packed_forward`; CPU, a
            Transformer (BertModel) + mean or CLS Pooling (+ Normalize) model, else ValueError;
            fp32 or bf16; a snapshot of the weights when the encoder is made, so make it after
            training); ``"onnx"``:
            every batch through ONNX Runtime (CPU), `retrieval.onnx_forward.OnnxBackendError` when
            it cannot; ``"openvino"``: every batch through OpenVINO (CPU, fp32;
            `retrieval.openvino_forward`, the ``openvino`` extra). The embeddings agree within float32
            rounding (about 1e-7).
        onnx_cache: where ONNX exports (also OpenVINO's input) are kept (default
            `retrieval.onnx_forward.default_onnx_cache`).
        precision: ``"fp32"`` (default) or ``"bf16"``: the model converted to bfloat16 in place
            (torch only; about 3x faster bulk encoding on a CPU with AMX, docs/speed.md). The
            manifest records it, and an index built in bf16 is searched with a bf16 query encoder
            (its weights fingerprint differs from the fp32 model's). ``"int8"``: the packed forward
            (``backend="auto"`` or ``"packed"``, CPU, a BERT bi-encoder) with its linear layers in int8
            dynamic quantisation (weights per channel, packed for oneDNN on AMX CPUs); the model's
            own weights stay fp32. Slower than bf16 on AMX CPUs (docs/speed.md); meant for CPUs
            without bf16 units. An index built in int8 is searched with an int8 query encoder.

    Thread safety: calls are serialised by a lock (fast tokenizers are not safe to share between
    threads). Small batches run in a worker thread of the encoder's own whose torch thread count
    is set once; no other thread's setting changes (torch's OpenMP backend keeps it per thread).

    Example:
        >>> encoder = Encoder.load("path/to/model")  # doctest: +SKIP
        >>> encoder.encode_queries(["what is faiss"]).shape  # doctest: +SKIP
        (1, 384)
    """

    def __init__(
        self,
        model: Any,
        name: str,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        batch_size: int = 64,
        revision: str | None = None,
        *,
        token_budget: int = _TOKEN_BUDGET,
        small_batch_threads: int | None = None,
        small_batch_tokens: int = _SMALL_BATCH_TOKENS,
        backend: str = "auto",
        onnx_cache: str | Path | None = None,
        precision: str = "fp32",
    ) -> None:
        if batch_size <= 0 or token_budget <= 0:
            raise ValueError(f"batch_size and token_budget must be positive, got {batch_size} and {token_budget}")
        if small_batch_threads is not None and small_batch_threads <= 0:
            raise ValueError(f"small_batch_threads must be positive or None, got {small_batch_threads}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if precision == "bf16" and backend in _EXPORTED:
            raise ValueError(
                f"precision='bf16' runs on torch; use backend='torch', 'packed' or 'auto', not {backend!r}"
            )
        if precision == "int8":
            if backend not in ("auto", "packed"):
                raise ValueError(
                    f"precision='int8' runs on the packed BERT forward; use backend='packed' or 'auto', not {backend!r}"
                )
            backend = "packed"
        if precision == "bf16":
            import torch

            model.to(torch.bfloat16)
        self.precision = precision
        self.model = model.eval()
        self._packed = self._packed_forward(model, precision == "int8") if backend == "packed" else None
        self.name = str(name)
        prompts = getattr(model, "prompts", {}) or {}
        self.query_prompt = query_prompt if query_prompt is not None else prompts.get("query")
        self.document_prompt = document_prompt if document_prompt is not None else prompts.get("document")
        self.batch_size = batch_size
        self.token_budget = token_budget
        self.small_batch_threads = small_batch_threads
        self.small_batch_tokens = small_batch_tokens
        self.revision = revision if revision is not None else _revision_of(self.name)
        similarity = getattr(model, "similarity_fn_name", None) or "cosine"
        self.metric = _SIMILARITY_TO_METRIC.get(similarity, "cosine")
        self.dim = int(model.get_embedding_dimension())
        self._tokenizer = _text_tokenizer(model)
        self._lock = threading.Lock()  # fast tokenizers are not safe to share between threads
        self._small_worker: _PinnedThread | None = None  # created at the first small batch
        self._pool: ThreadPoolExecutor | None = None  # the packed forward's bulk workers, made at first use
        self.backend = backend
        self.onnx_cache = onnx_cache
        # ONNX Runtime forwards by role ("small", "bulk"), made at first use; None where auto cannot use one.
        self._onnx: dict[str, Any] = {}
        if backend in _EXPORTED:
            self._onnx_runner("small")  # fail now, not at the first query

    @staticmethod
    def _packed_forward(model: Any, int8: bool = False) -> tuple[Any, str, bool]:
        """(`PackedBertBody`, pooling, normalises) for ``backend="packed"`` (int8 linear layers when `int8`),
        or ValueError saying why not."""
        from retrieval.packed_forward import PackedBertBody, bi_encoder_parts

        device = getattr(getattr(model, "device", None), "type", "cpu")
        if device != "cpu":
            if int8:
                raise ValueError(
                    f"precision='int8' runs on the CPU only (the model is on {device}); use 'fp32' or 'bf16'"
                )
            raise ValueError(f"backend='packed' runs on the CPU only (the model is on {device}); use backend='torch'")
        found = bi_encoder_parts(model)
        if isinstance(found, str):
            fix = "use precision='fp32' or 'bf16'" if int8 else "use backend='torch'"
            runs = "precision='int8' runs on the packed forward, which" if int8 else "backend='packed'"
            raise ValueError(f"{runs} cannot run this model: {found}; {fix}")
        bert, pooling, normalises = found
        return PackedBertBody(bert, int8=int8), pooling, normalises

    @classmethod
    def load(
        cls,
        name_or_path: str | Path,
        device: str | None = None,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        batch_size: int = 64,
        revision: str | None = None,
        **options: Any,
    ) -> Encoder | EncoderEnsemble:
        """Load any sentence-transformers model by hub name or local path, or an encoder ensemble folder.

        `options` are the keyword-only tuning arguments of `Encoder` (``token_budget``, ...). A folder
        with ``encoder_ensemble.json`` loads as a `retrieval.encoder_ensemble.EncoderEnsemble` of its
        parts, each loaded here with `device`, `batch_size` and `options`.
        """
        if is_ensemble(name_or_path):
            if query_prompt or document_prompt or revision:
                raise ValueError("an encoder ensemble takes no prompts or revision (its parts are local folders)")
            folder = Path(name_or_path)
            names, weights = read_ensemble(folder / ENSEMBLE_FILE)
            parts = [cls.load(folder / part, device=device, batch_size=batch_size, **options) for part in names]
            return EncoderEnsemble(parts, str(name_or_path), weights)
        from retrieval.pretrained import ensure_model, identify_model

        path = ensure_model(name_or_path, revision=revision)
        known = identify_model(path) if path != str(name_or_path) else None
        kwargs = {"revision": revision} if revision and not known else {}
        model = load_sentence_transformer(path, device=device, **kwargs)
        revision = revision or (known[1] if known else None)
        return cls(model, str(name_or_path), query_prompt, document_prompt, batch_size, revision, **options)

    def configured(self, batch_size: int, **options: Any) -> Encoder:
        """The same model with other batching (`batch_size` and `Encoder`'s keyword-only options)."""
        options = {"backend": self.backend, "onnx_cache": self.onnx_cache, "precision": self.precision, **options}
        return Encoder(
            self.model, self.name, self.query_prompt, self.document_prompt, batch_size, self.revision, **options
        )

    @property
    def normalize(self) -> bool:
        return self.metric == "cosine"

    def _window(self) -> int | None:
        """Tokens the model reads per text (special tokens included), or None when it has no such limit."""
        if self._tokenizer is None:
            return None
        try:
            window = self.model.max_seq_length
        except (AttributeError, IndexError, TypeError):
            return None
        return int(window) if isinstance(window, int) and 0 < window < 1_000_000 else None

    def _lengths(self, texts: list[str], prompt: str | None, truncation: bool = True) -> list[int]:
        """Token counts (after truncation, unless told) to sort by; character counts when there is no tokenizer."""
        prompted = [prompt + t for t in texts] if prompt else texts
        if self._tokenizer is None:
            return [len(t) for t in prompted]
        bounded = self._tokenizer.model_max_length < 1_000_000  # else the tokenizer warns and does not truncate
        ids = self._tokenizer(
            prompted, truncation=truncation and bounded, return_attention_mask=False, return_token_type_ids=False,
            verbose=False,
        )
        return [len(row) for row in ids["input_ids"]]

    def _fit_queries(self, texts: list[str], prompt: str | None) -> tuple[list[str], list[int]]:
        """Queries cut to the model's window, with their token counts; a QueryTruncatedWarning names those cut.

        A query far longer than the window is cut by `retrieval.texts.cap_tokens` before it is
        tokenized whole, so it costs about what a full window does; the model reads the same tokens.
        """
        window = self._window()
        if window is None:
            return texts, self._lengths(texts, prompt)
        texts = [cap_tokens(self._tokenizer, t, window)[0] if len(t) > 8 * window else t for t in texts]
        lengths = self._lengths(texts, prompt, truncation=False)
        cut = [i for i, n in enumerate(lengths) if n > window]
        if cut:
            which = f"query {cut[0]} is" if len(cut) == 1 else f"queries {_listed(cut)} are"
            warnings.warn(
                f"{which} longer than {window} tokens; the encoder reads at most {window} tokens (its "
                "max_seq_length, special tokens and prompt included), so the rest was ignored",
                QueryTruncatedWarning,
                stacklevel=4,
            )
        return texts, [min(n, window) for n in lengths]

    def _encode(self, texts: list[str], prompt: str | None, show_progress: bool, queries: bool = False) -> np.ndarray:
        from tqdm.auto import tqdm

        texts = check_texts(texts, "query" if queries else "document")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            if queries:
                texts, lengths = self._fit_queries(texts, prompt)
            else:
                lengths = self._lengths(texts, prompt)
            batches = plan_batches(lengths, self.batch_size, self.token_budget)
            out = np.empty((len(texts), self.dim), dtype=np.float32)
            progress = tqdm(total=len(texts), desc="Encoding", unit="text", disable=not show_progress or len(batches) < 2)
            with progress:
                bulk = []
                for rows in batches:
                    batch = [texts[i] for i in rows]
                    if len(rows) * max(lengths[i] for i in rows) <= self.small_batch_tokens:
                        out[rows] = self._forward_small(batch, prompt)
                    elif self._packed is not None:
                        bulk.append(rows)
                        continue
                    else:
                        out[rows] = self._forward(batch, prompt, self._onnx_runner("bulk"))
                    progress.update(len(rows))
                if bulk:
                    self._packed_bulk(texts, prompt, bulk, out, progress)
            return out

    def _packed_bulk(
        self, texts: list[str], prompt: str | None, batches: list[Any], out: np.ndarray, progress: Any
    ) -> None:
        """Bulk batches through the packed forward: tokenized here, run by one worker thread per torch
        thread, each on one core (no barrier between them; 1.03-1.24x one call on every thread here)."""
        import torch

        threads = torch.get_num_threads()
        if threads == 1 or len(batches) == 1:
            for rows in batches:
                out[rows] = self._forward([texts[i] for i in rows], prompt)
                progress.update(len(rows))
            return

        def run(rows: Any, features: dict[str, Any]) -> tuple[Any, np.ndarray]:
            torch.set_num_threads(1)  # per worker thread: one core each
            return rows, self._packed_rows(features)

        if self._pool is None:
            self._pool = ThreadPoolExecutor(threads, thread_name_prefix="encoder-packed")
        pending: list[Any] = []
        try:
            for rows in batches:  # tokenizing the next batches overlaps the workers' forward passes
                features = self.model.preprocess([texts[i] for i in rows], prompt=prompt)
                pending.append(self._pool.submit(run, rows, features))
                while len(pending) > 2 * threads or (pending and pending[0].done()):
                    done, embeddings = pending.pop(0).result()
                    out[done] = embeddings
                    progress.update(len(done))
            for future in pending:
                done, embeddings = future.result()
                out[done] = embeddings
                progress.update(len(done))
        finally:
            torch.set_num_threads(threads)  # the default new threads start with

    def _forward_small(self, texts: list[str], prompt: str | None) -> np.ndarray:
        """A small batch, on `small_batch_threads` threads (in a worker thread pinned to that count)."""
        import torch

        runner = self._onnx_runner("small")
        if runner is not None:
            return self._forward(texts, prompt, runner)
        threads = self.small_batch_threads
        if threads is None or threads == torch.get_num_threads() or self.model.device.type != "cpu":
            return self._forward(texts, prompt)
        if self._small_worker is None:
            self._small_worker = _PinnedThread(threads)
        if not self._small_worker.pinned:
            return self._forward(texts, prompt)
        return self._small_worker.run(self._forward, texts, prompt)

    def _onnx_runner(self, role: str) -> Any:
        """The exported forward (ONNX Runtime, or OpenVINO under ``backend="openvino"``) for `role`, or None.

        `role` "small" runs on `small_batch_threads` threads, "bulk" on torch's count. None under
        ``backend="torch"``, for bulk batches under ``"auto"``, and under ``"auto"`` where onnxruntime
        is missing or the model does not export (a failed export also warns, once).
        """
        if self.backend in ("torch", "packed") or (self.backend == "auto" and role == "bulk") or self.precision != "fp32":
            return None
        if role in self._onnx:
            return self._onnx[role]
        import torch

        from retrieval.onnx_forward import OnnxBackendError, OnnxForward, onnx_available, unsupported_reason

        threads = self.small_batch_threads if role == "small" and self.small_batch_threads else torch.get_num_threads()
        runner = None
        if self.backend == "openvino":
            from retrieval.openvino_forward import OpenVinoForward

            runner = OpenVinoForward(self.model, self.onnx_cache, threads=threads)
        elif self.backend == "onnx":
            runner = OnnxForward(self.model, self.onnx_cache, threads=threads)
        elif onnx_available() and unsupported_reason(self.model) is None:
            try:
                runner = OnnxForward(self.model, self.onnx_cache, threads=threads)
            except (OnnxBackendError, RuntimeError, OSError, ValueError) as exc:
                warnings.warn(
                    f"encoder {self.name!r}: the ONNX Runtime export failed ({type(exc).__name__}: {exc}); "
                    "small batches run with torch (pass backend='torch' to skip the attempt)",
                    RuntimeWarning,
                    stacklevel=2,
                )
        self._onnx[role] = runner
        return runner

    def _forward(self, texts: list[str], prompt: str | None, onnx: Any = None) -> np.ndarray:
        # What SentenceTransformer.encode does per batch, without its sorting and bookkeeping.
        import torch

        with torch.inference_mode():
            features = self.model.preprocess(texts, prompt=prompt)
            if onnx is not None:
                embeddings = onnx(features)
                if self.normalize:
                    embeddings /= np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
                return embeddings.astype(np.float32, copy=False)
            if self._packed is not None:
                return self._packed_rows(features)
            features = {k: v.to(self.model.device) if hasattr(v, "to") else v for k, v in features.items()}
            embeddings = self.model(features)["sentence_embedding"]
            if self.normalize:
                embeddings = torch.nn.functional.normalize(embeddings, p=2, dim=1)
            return embeddings.float().cpu().numpy()

    def _packed_rows(self, features: dict[str, Any]) -> np.ndarray:
        """Embeddings of a preprocessed (padded) batch through the packed forward: padding dropped."""
        import torch

        body, pooling, normalises = self._packed
        real = features["attention_mask"].bool()
        types = features.get("token_type_ids")
        ids = features["input_ids"][real]
        with torch.inference_mode():
            embeddings = body(ids, types[real] if types is not None else torch.zeros_like(ids), real.sum(1), pooling)
            if normalises or self.normalize:
                embeddings = torch.nn.functional.normalize(embeddings, p=2, dim=1)
        return embeddings.float().numpy()

    def encode_queries(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """Embeddings of queries, float32, one row each.

        A query longer than the model's window is read up to the window (as the model always
        does) and reported with a `retrieval.QueryTruncatedWarning`; a huge one costs no more.
        A query that is not valid Unicode raises `retrieval.InvalidTextError`.
        """
        return self._encode(list(texts), self.query_prompt, show_progress, queries=True)

    def encode_documents(self, docs: Sequence[Document | str], show_progress: bool = True) -> np.ndarray:
        """Embeddings of documents (title and text), float32, one row each."""
        return self._encode([document_text(d) for d in docs], self.document_prompt, show_progress)

    def __del__(self) -> None:
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown(wait=False)

    def info(self) -> dict[str, Any]:
        """What the manifest records about this encoder, with a probe embedding to recognise it by."""
        return describe_encoder(self)

    def check(self, recorded: dict[str, Any]) -> None:
        """Raise EncoderMismatchError unless this encoder is the one `recorded` describes."""
        check_encoder(self, recorded)
