"""The manifest is checked: every field, its checksum, its canonical form, and next_row_id against the data."""

from __future__ import annotations

import json

import pytest

from indexes import Index, IndexFormatError
from tests.index_helpers import documents, make_index, resign, vectors, write_format1

FIELDS = [
    "checksum", "dim", "doc_count", "encoder", "factory", "files", "format_version", "generation", "libraries",
    "metric", "next_row_id", "normalize",
]  # fmt: skip

BAD_VALUES = [
    ("dim", 0), ("dim", "8"), ("dim", True), ("metric", "cosinus"), ("normalize", 1), ("factory", ""),
    ("doc_count", -1), ("next_row_id", 3), ("next_row_id", 30.0), ("encoder", []), ("libraries", {"numpy": 2}),
    ("generation", 0), ("files", {}), ("files", {"vectors.000001.faiss": {}, "docs.000001.parquet": {}}),
    ("checksum", "abc"), ("format_version", 3),
]  # fmt: skip


@pytest.fixture()
def saved(tmp_path):
    path = make_index().save(tmp_path / "idx")
    return path, json.loads((path / "manifest.json").read_text())


def test_the_saved_manifest_has_every_field(saved):
    _, data = saved
    assert sorted(data) == FIELDS


@pytest.mark.parametrize("field", FIELDS)
def test_a_missing_field_is_named_even_where_the_checksum_was_recomputed(saved, field):
    path, data = saved
    del data[field]
    text = resign(data) if field != "checksum" else json.dumps(data, sort_keys=True, indent=2) + "\n"
    (path / "manifest.json").write_text(text)
    with pytest.raises(IndexFormatError) as err:
        Index.load(path)
    message = str(err.value)
    assert message.startswith(str(path / "manifest.json")) and repr(field) in message, message


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
def test_a_bad_value_is_named(saved, field, value):
    path, data = saved
    data[field] = value
    text = resign(data) if field != "checksum" else json.dumps(data, sort_keys=True, indent=2) + "\n"
    (path / "manifest.json").write_text(text)
    with pytest.raises(IndexFormatError, match=f"manifest.json: field '{field}'"):
        Index.load(path)


def test_a_renamed_key_and_an_edit_are_refused(saved):
    path, data = saved
    text = (path / "manifest.json").read_text()
    for edited in (
        text.replace('"probe"', '"prXbe"'),  # inside the encoder record: only the checksum can see it
        text.replace('"next_row_id": 30', '"next_row_id": 20'),
        text.replace('"dim": 8', '"dim":  8'),  # same data, other bytes
        text.replace('"next_row_id"', '"next_row_iX"'),
    ):
        assert edited != text
        (path / "manifest.json").write_text(edited)
        with pytest.raises(IndexFormatError, match="manifest.json"):
            Index.load(path)


def test_next_row_id_lowered_and_resigned_is_refused_before_row_ids_are_reused(saved):
    path, _ = saved
    index = Index.load(path)
    index.remove([f"d{i}" for i in range(10)])
    index.save(path)
    data = json.loads((path / "manifest.json").read_text())
    assert (data["doc_count"], data["next_row_id"]) == (20, 30)
    data["next_row_id"] = 25  # rows 10..29 are in use; new documents would reuse 25..29
    (path / "manifest.json").write_text(resign(data))
    with pytest.raises(IndexFormatError, match="field 'next_row_id' is 25 but row id 29 is in use"):
        Index.load(path)


def test_format1_manifest_fields_are_validated_and_next_row_id_checked(tmp_path):
    path = tmp_path / "idx"
    write_format1(make_index(), path)
    data = json.loads((path / "manifest.json").read_text())
    for field, value in (("next_row_id", 20), ("metric", None)):
        (path / "manifest.json").write_text(json.dumps({**data, field: value}))
        with pytest.raises(IndexFormatError, match=f"field '{field}'"):
            Index.load(path)
    missing = {k: v for k, v in data.items() if k != "normalize"}
    (path / "manifest.json").write_text(json.dumps(missing))
    with pytest.raises(IndexFormatError, match="field 'normalize' is missing"):
        Index.load(path)


def test_rows_added_after_a_reload_get_new_row_ids(saved):
    path, _ = saved
    index = Index.load(path)
    index.remove(["d29"])
    index.save(path)
    index = Index.load(path)
    index.add(documents(1, prefix="new"), vectors(1, seed=3))
    assert index.docs.row_ids_of(["new0"]).tolist() == [30]  # never a reused id
    assert index.remove(["new0"]) == 1 and len(index) == 29
