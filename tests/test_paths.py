"""benchmarks.paths: the one resolver of the shared data folder and of the datasets folder."""

from __future__ import annotations

from benchmarks.paths import CHECKOUT, find_data_dir, project_dir, shared_dir


def test_shared_dir_honours_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("TWOSTAGE_SHARED", str(tmp_path / "elsewhere"))
    assert shared_dir() == tmp_path / "elsewhere"


def test_shared_dir_defaults_to_the_checkouts_sibling(monkeypatch):
    monkeypatch.delenv("TWOSTAGE_SHARED", raising=False)
    assert shared_dir() == CHECKOUT.parent / "shared"
    monkeypatch.setenv("TWOSTAGE_SHARED", "")  # empty: unset
    assert shared_dir() == CHECKOUT.parent / "shared"


def test_project_dir_is_the_checkout():
    assert (project_dir() / "pyproject.toml").exists() and project_dir() == CHECKOUT


def test_find_data_dir_env_first_then_the_shared_folder_then_the_nearest_shared_datasets(tmp_path, monkeypatch):
    monkeypatch.setenv("TWOSTAGE_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("TWOSTAGE_SHARED", str(tmp_path / "shared-here"))
    assert find_data_dir(tmp_path) == tmp_path / "elsewhere"
    monkeypatch.delenv("TWOSTAGE_DATA_DIR")
    assert find_data_dir(tmp_path) == tmp_path / "shared-here" / "datasets"
    monkeypatch.delenv("TWOSTAGE_SHARED")
    (tmp_path / "shared" / "datasets").mkdir(parents=True)
    deep = tmp_path / "checkout" / "notebooks"
    deep.mkdir(parents=True)
    assert find_data_dir(deep) == tmp_path / "shared" / "datasets"
