"""Saving never deletes what the index did not write; format-1 folders load and migrate; leftovers go."""

from __future__ import annotations

import os
import warnings

import pytest

from indexes import Index, IndexFormatError, IndexPathError
from indexes.directory import IndexDirectory
from tests.index_helpers import make_index, state, write_format1


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_file_is_refused_and_left_alone(tmp_path):
    target = tmp_path / "mydir"
    target.write_text("my notes")
    with pytest.raises(IndexPathError, match=f"{target} is a file"):
        make_index().save(target)
    assert target.read_text() == "my notes" and listing(tmp_path) == ["mydir"]
    with pytest.raises(IndexPathError, match="cannot write an index here"):
        make_index().save(target / "below")


def test_a_folder_of_other_things_is_refused_and_left_alone(tmp_path):
    target = tmp_path / "mydir"
    (target / "photos").mkdir(parents=True)
    (target / "thesis.tex").write_text("chapter 1")
    (target / "photos" / "a.jpg").write_bytes(b"\xff\xd8")
    before = listing(tmp_path)
    refused = r"mydir exists and is not an index directory \(it holds photos, thesis.tex\)"
    with pytest.raises(IndexPathError, match=refused):
        make_index().save(target)
    assert listing(tmp_path) == before  # nothing moved, deleted or added (not even a lock file)
    assert (target / "thesis.tex").read_text() == "chapter 1"


def test_a_folder_holding_a_format1_file_name_alone_is_not_taken_for_an_index(tmp_path):
    target = tmp_path / "data"
    target.mkdir()
    (target / "docs.parquet").write_bytes(b"the user's own table")
    with pytest.raises(IndexPathError):
        make_index().save(target)
    assert (target / "docs.parquet").read_bytes() == b"the user's own table"


def test_an_unreadable_manifest_is_refused(tmp_path):
    target = tmp_path / "idx"
    make_index().save(target)
    (target / "manifest.json").write_text("{}")
    with pytest.raises(IndexPathError, match="holds a manifest this library cannot read"):
        make_index().save(target)


def test_an_empty_folder_is_accepted_and_other_files_in_an_index_are_kept(tmp_path):
    target = tmp_path / "idx"
    target.mkdir()
    make_index().save(target)
    (target / "NOTES.md").write_text("built from the March corpus")
    for seed in (1, 2):
        make_index(seed=seed).save(target)
    assert (target / "NOTES.md").read_text() == "built from the March corpus"
    assert state(Index.load(target)) == state(make_index(seed=2))


def test_leftovers_of_interrupted_saves_are_removed_by_the_next_load_or_save(tmp_path):
    target = tmp_path / "idx"
    make_index().save(target)
    leftovers = ["vectors.000002.faiss", "docs.000002.parquet", "manifest.json.tmp"]
    for name in leftovers:
        (target / name).write_bytes(b"partial")
    directory = IndexDirectory(target)
    with directory.writing(lock_timeout=1):  # a writer is busy: a load must not touch its files
        Index.load(target)
        assert set(leftovers) <= set(os.listdir(target))
    Index.load(target)
    assert sorted(os.listdir(target)) == [".lock", "docs.000001.parquet", "manifest.json", "vectors.000001.faiss"]
    for name in leftovers:
        (target / name).write_bytes(b"partial")
    make_index(seed=3).save(target)
    assert sorted(os.listdir(target)) == [".lock", "docs.000002.parquet", "manifest.json", "vectors.000002.faiss"]


def test_format1_folder_loads_and_the_next_save_migrates_it_in_place(tmp_path):
    target = tmp_path / "idx"
    write_format1(make_index(), target)
    loaded = Index.load(target)
    assert state(loaded) == state(make_index()) and loaded.manifest.format_version == 1
    loaded.save(target)
    assert sorted(os.listdir(target)) == [".lock", "docs.000001.parquet", "manifest.json", "vectors.000001.faiss"]
    assert state(Index.load(target)) == state(make_index()) and Index.load(target).manifest.format_version == 2


def test_format1_interrupted_save_falls_back_to_previous_and_is_cleaned_after_the_next_save(tmp_path):
    target = tmp_path / "idx"
    write_format1(make_index(), tmp_path / ".idx.previous")
    write_format1(make_index(3), tmp_path / ".idx.tmp-ab12cd34")
    (tmp_path / ".idx.tmp-keepme").mkdir()
    (tmp_path / ".idx.tmp-keepme" / "mine.txt").write_text("not written by the index")
    with pytest.warns(UserWarning, match="a save was interrupted"):
        loaded = Index.load(target)
    assert state(loaded) == state(make_index())
    loaded.save(target)
    assert sorted(os.listdir(tmp_path)) == [".idx.tmp-keepme", "idx"]  # only format-1 leftovers were deleted
    assert state(Index.load(target)) == state(make_index())


def test_missing_folder_is_not_an_index(tmp_path):
    with pytest.raises(IndexFormatError, match="not an index directory"):
        Index.load(tmp_path / "nothing")
    (tmp_path / "only-leftovers").mkdir()
    (tmp_path / "only-leftovers" / "vectors.000001.faiss").write_bytes(b"partial")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(IndexFormatError, match="not an index directory"):
            Index.load(tmp_path / "only-leftovers")
    make_index().save(tmp_path / "only-leftovers")  # what an interrupted first save leaves is reused
