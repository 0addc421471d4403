"""The packaged all-MiniLM-L6-v2: seeded into a Hugging Face cache, verified, loaded offline, recognised."""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from retrieval.model_registry import PACKAGED_MODELS
from retrieval.pretrained import (
    ModelFileError,
    PackageNotInstalledError,
    PretrainedModelError,
    ensure_model,
    ensure_snapshot,
    identify_model,
    offline_hint,
    package_archive,
)

NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL = PACKAGED_MODELS[NAME]
REV = MODEL.revision
OTHER_REV = "0" * 40
# all-MiniLM-L6-v2's embedding of this sentence (normalised, 384 values): these six, read once from
# the verified files, agree with plain transformers mean pooling of the same files.
SENTENCE = "A man is eating food."
PINNED = {0: 0.033242, 1: 0.004406, 2: -0.006277, 3: 0.048379, 4: -0.138702, 216: 0.187210}


@pytest.fixture(scope="session")
def archive() -> Path:
    path = package_archive(MODEL)
    if path is None:
        pytest.skip(f'{MODEL.requirement} is not installed (pip install -c constraints.txt -e ".[models]")')
    return path


@pytest.fixture(scope="session")
def seeded_cache(tmp_path_factory, archive) -> Path:
    """One hub cache seeded from the package, shared by the tests that only read it."""
    cache = tmp_path_factory.mktemp("hf_hub_cache")
    ensure_model(NAME, cache_dir=cache)
    return cache


def _snapshot(cache: Path) -> Path:
    return cache / MODEL.cache_folder / "snapshots" / REV


def _flip_byte(path: Path, offset: int) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def _write_zip(path: Path, source: Path, changed: dict[str, bytes], dropped: set[str] = frozenset()) -> Path:
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as out:
        for file in MODEL.files:
            if file not in dropped:
                out.writestr(file, changed.get(file) or src.read(file))
    return path


def test_seeds_the_cache_and_sentence_transformers_loads_the_hub_name_offline(seeded_cache, monkeypatch):
    import huggingface_hub
    from sentence_transformers import SentenceTransformer

    repo = seeded_cache / MODEL.cache_folder
    assert sorted(p.name for p in repo.iterdir()) == ["refs", "snapshots"]  # no temporary folder left
    assert (repo / "refs" / "main").read_text() == REV
    cached = huggingface_hub.scan_cache_dir(seeded_cache)
    assert not cached.warnings
    [revision] = next(iter(cached.repos)).revisions
    assert (revision.commit_hash, revision.refs, len(revision.files)) == (REV, frozenset({"main"}), len(MODEL.files))

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(seeded_cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    model = SentenceTransformer(NAME, device="cpu")
    vector = model.encode([SENTENCE])[0]
    assert vector.shape == (384,)
    np.testing.assert_allclose([vector[i] for i in PINNED], list(PINNED.values()), atol=1e-4)


def test_ensure_model_reads_the_cache_location_at_each_call(seeded_cache, monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(seeded_cache))
    path = ensure_model(NAME)
    assert path == str(_snapshot(seeded_cache))
    assert "all_minilm_l6_v2" not in sys.modules  # the package prints when imported: it never is


def test_local_paths_and_other_names_come_back_unchanged(tmp_path):
    cache = tmp_path / "cache"
    assert ensure_model(tmp_path, cache_dir=cache) == str(tmp_path)
    assert ensure_model("someone/other-model", cache_dir=cache) == "someone/other-model"
    assert ensure_model(NAME, revision="main", cache_dir=cache) == NAME  # not the packaged revision
    assert not cache.exists()


def test_a_flipped_byte_in_the_cached_weights_is_refused_and_left_as_it_is(seeded_cache, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(seeded_cache, cache)
    assert ensure_model(NAME, cache_dir=cache) == str(_snapshot(cache))  # hashed and remembered
    weights = _snapshot(cache) / "model.safetensors"
    _flip_byte(weights, 1_000_000)
    flipped = weights.read_bytes()

    with pytest.raises(ModelFileError, match="model.safetensors") as caught:
        ensure_model(NAME, cache_dir=cache)
    assert caught.value.file == "model.safetensors"
    assert caught.value.expected == MODEL.files["model.safetensors"].sha256 in str(caught.value)
    assert caught.value.actual is not None and caught.value.actual in str(caught.value)
    assert weights.read_bytes() == flipped  # refused, not repaired


def test_a_changed_file_in_the_package_is_refused(archive, tmp_path):
    bad = _write_zip(tmp_path / "model.zip", archive, {"config.json": b'{"hidden_size": 384}'})
    cache = tmp_path / "cache"
    with pytest.raises(ModelFileError, match="config.json") as caught:
        ensure_snapshot(MODEL, cache_dir=cache, archive=bad)
    assert caught.value.file == "config.json" and caught.value.location == bad
    assert "pip install --force-reinstall" in str(caught.value)
    assert list(cache.iterdir()) == []  # nothing half-written left behind


def test_a_file_missing_from_the_package_is_refused(archive, tmp_path):
    bad = _write_zip(tmp_path / "model.zip", archive, {}, dropped={"model.safetensors"})
    with pytest.raises(ModelFileError, match="model.safetensors.*it is missing") as caught:
        ensure_snapshot(MODEL, cache_dir=tmp_path / "cache", archive=bad)
    assert caught.value.actual is None


def test_a_different_snapshot_already_in_the_cache_is_not_overwritten(archive, tmp_path):
    repo = tmp_path / MODEL.cache_folder
    (repo / "snapshots" / REV).mkdir(parents=True)
    (repo / "snapshots" / REV / "config.json").write_text('{"someone": "else"}')
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(OTHER_REV)

    with pytest.raises(ModelFileError, match="config.json"):
        ensure_model(NAME, cache_dir=tmp_path)
    assert [p.name for p in (repo / "snapshots" / REV).iterdir()] == ["config.json"]
    assert (repo / "snapshots" / REV / "config.json").read_text() == '{"someone": "else"}'
    assert (repo / "refs" / "main").read_text() == OTHER_REV


def test_a_partial_snapshot_is_completed_and_another_main_is_kept(seeded_cache, tmp_path, monkeypatch):
    import huggingface_hub

    snapshot = _snapshot(tmp_path)
    snapshot.mkdir(parents=True)
    shutil.copy(_snapshot(seeded_cache) / "config.json", snapshot / "config.json")
    kept = (snapshot / "config.json").stat().st_ino
    (tmp_path / MODEL.cache_folder / "refs").mkdir()
    (tmp_path / MODEL.cache_folder / "refs" / "main").write_text(OTHER_REV)

    assert ensure_model(NAME, cache_dir=tmp_path) == str(snapshot)
    assert sorted(str(p.relative_to(snapshot)) for p in snapshot.rglob("*") if p.is_file()) == sorted(MODEL.files)
    assert (snapshot / "config.json").stat().st_ino == kept
    assert (tmp_path / MODEL.cache_folder / "refs" / "main").read_text() == OTHER_REV
    # With refs/main elsewhere, a hub name still finds the packaged files by naming the revision.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    found = huggingface_hub.hf_hub_download(NAME, "modules.json", revision=REV, cache_dir=tmp_path)
    assert Path(found) == snapshot / "modules.json"


def test_identify_model_recognises_a_copy_by_its_files_and_rejects_a_modified_one(seeded_cache, tmp_path):
    assert identify_model(_snapshot(seeded_cache)) == (NAME, REV)
    copy = tmp_path / "all-MiniLM-L6-v2"
    shutil.copytree(_snapshot(seeded_cache), copy)
    assert identify_model(copy) == (NAME, REV)

    _flip_byte(copy / "tokenizer.json", 100)
    assert identify_model(copy) is None
    shutil.copy(_snapshot(seeded_cache) / "tokenizer.json", copy / "tokenizer.json")
    os.truncate(copy / "model.safetensors", 1000)
    assert identify_model(copy) is None
    assert identify_model(tmp_path) is None
    assert identify_model(tmp_path / "missing") is None


def test_a_registered_model_without_its_package_or_a_cached_copy_says_how_to_install_it(tmp_path):
    absent = dataclasses.replace(
        MODEL, distribution="twostage-test-absent-model", archive="twostage_test_absent_model/model.zip"
    )
    assert package_archive(absent) is None
    with pytest.raises(PackageNotInstalledError) as caught:
        ensure_snapshot(absent, cache_dir=tmp_path)
    message = str(caught.value)
    assert isinstance(caught.value, PretrainedModelError)
    assert 'pip install -c constraints.txt -e ".[models]"' in message
    assert "twostage-test-absent-model==0.1.2" in message and "hub" in message
    assert list(tmp_path.iterdir()) == []


def test_offline_hint_names_the_fix():
    assert 'pip install -c constraints.txt -e ".[models]"' in offline_hint(NAME)
    assert MODEL.requirement in offline_hint(NAME)
    hint = offline_hint("someone/other-model")
    assert "'someone/other-model'" in hint and "local folder" in hint and NAME in hint
