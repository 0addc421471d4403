"""Encoder's own batching path against SentenceTransformer.encode: same vectors, threads restored."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from retrieval.encoder import Encoder, plan_batches

TOL = 1e-5
QUERIES = [
    "what is faiss",
    "do statins reduce mortality in older adults",
    "x",
    "protein folding with deep networks and the limits of homology " * 3,
    "Jazz MUSIC, in 1959?",
]


def _texts(toy_corpus) -> list[str]:
    # Varied lengths, one beyond the tiny model's 128-token limit (truncated by both paths).
    texts = [f"{d['title']} {d['text']}" for d in toy_corpus]
    texts += [" ".join(texts[:30]), "short", "a b c d e f g h"]
    return texts


def _reference(encoder: Encoder, texts: list[str], prompt: str | None) -> np.ndarray:
    return encoder.model.encode(
        texts, prompt=prompt, batch_size=32, normalize_embeddings=encoder.normalize, convert_to_numpy=True
    )


@pytest.fixture(scope="module")
def prompted(tiny_encoder) -> Encoder:
    return Encoder(tiny_encoder.model, "tiny-prompted", query_prompt="query: ", document_prompt="passage: ")


@pytest.mark.parametrize("use_prompts", [False, True])
def test_single_and_batch_match_model_encode(tiny_encoder, prompted, toy_corpus, use_prompts):
    encoder = prompted if use_prompts else tiny_encoder
    assert bool(encoder.query_prompt) == use_prompts
    for query in QUERIES:
        got = encoder.encode_queries([query])
        assert got.shape == (1, encoder.dim) and got.dtype == np.float32
        assert np.abs(got - _reference(encoder, [query], encoder.query_prompt)).max() <= TOL
    got = encoder.encode_queries(QUERIES)
    assert np.abs(got - _reference(encoder, QUERIES, encoder.query_prompt)).max() <= TOL
    texts = _texts(toy_corpus)
    got = encoder.encode_documents(texts, show_progress=False)
    assert np.abs(got - _reference(encoder, texts, encoder.document_prompt)).max() <= TOL


def test_prompts_change_the_vectors(tiny_encoder, prompted):
    plain, with_prompt = tiny_encoder.encode_queries(QUERIES[:2]), prompted.encode_queries(QUERIES[:2])
    assert np.abs(plain - with_prompt).max() > 1e-3


@pytest.mark.parametrize("budget,max_texts", [(1, 64), (200, 3), (100_000, 1000)])
def test_any_batching_gives_the_same_vectors(tiny_encoder, toy_corpus, budget, max_texts):
    texts = _texts(toy_corpus)
    encoder = Encoder(tiny_encoder.model, "tiny", batch_size=max_texts, token_budget=budget)
    got = encoder.encode_documents(texts, show_progress=False)
    assert np.abs(got - _reference(encoder, texts, None)).max() <= TOL


def test_static_model_matches_model_encode(static_encoder_path, toy_corpus):
    encoder = Encoder.load(str(static_encoder_path), device="cpu", token_budget=64)
    texts = _texts(toy_corpus)
    assert np.abs(encoder.encode_documents(texts, show_progress=False) - _reference(encoder, texts, None)).max() <= TOL


def test_empty_input_gives_an_empty_matrix(tiny_encoder):
    assert tiny_encoder.encode_queries([]).shape == (0, tiny_encoder.dim)


def test_bad_tuning_arguments_are_refused(tiny_encoder):
    with pytest.raises(ValueError, match="token_budget"):
        Encoder(tiny_encoder.model, "tiny", token_budget=0)
    with pytest.raises(ValueError, match="small_batch_threads"):
        Encoder(tiny_encoder.model, "tiny", small_batch_threads=0)


def test_plan_batches_covers_every_text_within_limits():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 300, size=500).tolist()
    batches = plan_batches(lengths, max_texts=16, token_budget=1024)
    assert sorted(i for b in batches for i in b) == list(range(500))
    for batch in batches:
        longest = max(lengths[i] for i in batch)
        assert len(batch) <= 16
        assert len(batch) * longest <= 1024 or len(batch) == 1
    assert plan_batches([], 4, 10) == []


def _threads_seen(encoder: Encoder, call) -> list[int]:
    seen: list[int] = []
    handle = encoder.model.register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
    try:
        call()
    finally:
        handle.remove()
    return seen


def test_small_batches_run_on_their_own_thread_count_and_restore_it(tiny_encoder, toy_corpus):
    if torch.get_num_threads() < 2:
        pytest.skip("needs torch with at least 2 threads to tell the settings apart")
    before = torch.get_num_threads()
    encoder = Encoder(tiny_encoder.model, "tiny", small_batch_threads=1, small_batch_tokens=64, backend="torch")
    assert _threads_seen(encoder, lambda: encoder.encode_queries(["one query"])) == [1]
    big = _texts(toy_corpus)
    assert set(_threads_seen(encoder, lambda: encoder.encode_documents(big, show_progress=False))) == {before}
    assert torch.get_num_threads() == before
    untouched = Encoder(tiny_encoder.model, "tiny", small_batch_threads=None, backend="torch")
    assert _threads_seen(untouched, lambda: untouched.encode_queries(["one query"])) == [before]


def test_concurrent_encode_queries_match_sequential(tiny_encoder, prompted):
    before = torch.get_num_threads()
    queries = [f"{q} {i}" for i in range(8) for q in QUERIES]
    expected = {q: prompted.encode_queries([q])[0] for q in queries}
    results: dict[int, list[tuple[str, np.ndarray]]] = {t: [] for t in range(4)}
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def work(t: int) -> None:
        try:
            start.wait()
            for q in queries[t::2]:  # overlapping shares: every query is encoded by two threads
                results[t].append((q, prompted.encode_queries([q])[0]))
            results[t].append(("batch", prompted.encode_queries(queries[:6])))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    batch = np.stack([expected[q] for q in queries[:6]])
    for rows in results.values():
        for q, vector in rows:
            reference = batch if q == "batch" else expected[q]
            assert np.abs(vector - reference).max() <= TOL
    assert torch.get_num_threads() == before


def test_other_threads_keep_their_torch_thread_count(tiny_encoder):
    if torch.get_num_threads() < 2:
        pytest.skip("needs torch with at least 2 threads to tell the settings apart")
    before = torch.get_num_threads()
    seen: list[int] = []
    stop = threading.Event()
    ready = threading.Event()

    def other() -> None:
        a = torch.randn(64, 64)
        torch.mm(a, a)  # this thread's torch state is initialised here
        ready.set()
        while not stop.is_set():
            torch.mm(a, a)
            seen.append(torch.get_num_threads())

    thread = threading.Thread(target=other)
    thread.start()
    ready.wait()
    for i in range(20):
        tiny_encoder.encode_queries([f"single query {i}"])
    stop.set()
    thread.join()
    assert seen and set(seen) == {before}


def test_bf16_encoder_is_close_to_fp32_and_its_index_reloads_in_bf16(tiny_encoder_path, toy_corpus, tmp_path):
    from indexes.errors import EncoderMismatchError
    from retrieval import Searcher, build_index

    fp32 = Encoder.load(str(tiny_encoder_path), device="cpu", backend="torch")
    bf16 = Encoder.load(str(tiny_encoder_path), device="cpu", precision="bf16")
    texts = _texts(toy_corpus)
    a, b = fp32.encode_documents(texts, show_progress=False), bf16.encode_documents(texts, show_progress=False)
    assert b.dtype == np.float32 and 0 < np.abs(a - b).max() < 0.05
    assert bf16._onnx.get("small") is None  # bf16 stays on torch, single queries too
    index = build_index(toy_corpus, bf16, "Flat", use_gpu=False, show_progress=False)
    assert index.manifest.encoder["precision"] == "bf16"
    index.save(tmp_path / "idx")
    searcher = Searcher(tmp_path / "idx")
    assert searcher.encoder.precision == "bf16" and searcher.query("faiss vector search", k=3)
    with pytest.raises(EncoderMismatchError, match="another dtype"):
        Searcher(tmp_path / "idx", encoder=fp32)


def test_bf16_with_the_onnx_backend_or_an_unknown_precision_is_refused(tiny_encoder_path):
    with pytest.raises(ValueError, match="precision='bf16' runs on torch"):
        Encoder.load(str(tiny_encoder_path), device="cpu", precision="bf16", backend="onnx")
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16, int8"):
        Encoder.load(str(tiny_encoder_path), device="cpu", precision="fp16")
