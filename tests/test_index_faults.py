"""Fault injection in the manner of SQLite's crash tests.

Every file-system step of a save (each write, fsync, rename and delete, through
`indexes.fsops.FileSystem`) is enumerated; the writer is killed at each one, singly and at
every pair of steps in two saves in a row, and what is left must load as exactly the old or the
new index: documents, stored vectors, row-id counter and the top-10 of fixed queries. A kill is
simulated in-process: the step does not happen (a write leaves half its bytes) and no code of
the writer runs after it. What a killed process leaves does not depend on fsync (the kernel
keeps its writes), so the fsync steps are counted and killed at, but not made; power loss,
which drops unsynced data, is not simulated. Then every byte of every file of a saved index is corrupted and the
load must refuse, naming that file. Run with `-s` to see the figures.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from indexes import FileSystem, Index, IndexFormatError
from tests.index_helpers import documents, make_index, state, vectors, write_format1

NO_INDEX = "no index"


class Killed(BaseException):
    """The writer was killed here (a BaseException, so no `except Exception` of the writer sees it)."""


class KillAt(FileSystem):
    """The real file system, but the process dies at step `at` (counting from 0); None never dies."""

    def __init__(self, at: int | None = None) -> None:
        self.at, self.steps = at, []

    def _reached(self, kind: str, path: Path) -> bool:
        self.steps.append(f"{kind} {Path(path).name}")
        return len(self.steps) - 1 == self.at

    def makedirs(self, path):
        if self._reached("mkdir", path):
            raise Killed
        super().makedirs(path)

    def write(self, path, writer):
        if self._reached("write", path):
            writer(path)  # the kill comes mid-write: half the bytes are in the file
            data = Path(path).read_bytes()
            Path(path).write_bytes(data[: len(data) // 2])
            raise Killed
        super().write(path, writer)

    def fsync(self, path):
        if self._reached("fsync", path):
            raise Killed

    def fsync_dir(self, path):
        if self._reached("fsync-dir", path):
            raise Killed

    def rename(self, source, target):
        if self._reached("rename", target):
            raise Killed
        super().rename(source, target)

    def unlink(self, path):
        if self._reached("delete", path):
            raise Killed
        super().unlink(path)

    def rmdir(self, path):
        if self._reached("rmdir", path):
            raise Killed
        super().rmdir(path)

    def open_lock(self, path):
        if self._reached("lock", path):
            raise Killed
        return super().open_lock(path)


class ReadOnly(FileSystem):
    """A file system that refuses every change, as read-only media do: a load through it leaves the disk as is."""

    def _refuse(self, *args, **kwargs):
        raise PermissionError("read-only")

    makedirs = write = fsync = fsync_dir = rename = unlink = rmdir = open_lock = _refuse


def on_disk(path: Path):
    """The state that loads from `path`, or NO_INDEX; the disk is left untouched."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return state(Index.load(path, fs=ReadOnly()))
    except IndexFormatError as exc:
        assert "not an index directory" in str(exc), exc
        return NO_INDEX


def run(fs: KillAt, job: Callable[[FileSystem], None]) -> bool:
    """Run one writer process; True when it was killed."""
    try:
        job(fs)
    except Killed:
        return True
    return False


# -- the writers: each is one process that loads (when there is something), changes and saves --------


def first_save(path: Path) -> Callable[[FileSystem], None]:
    def job(fs):
        make_index(12, seed=5).save(path, fs=fs)

    return job


def load_and_change(path: Path, tag: str, fs: FileSystem) -> Index:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = Index.load(path, fs=fs)
    index.add(documents(4, prefix=tag), vectors(4, seed=len(tag)))
    index.remove([index.docs.doc_ids[0]])
    return index


def add_and_remove(path: Path, tag: str) -> Callable[[FileSystem], None]:
    def job(fs):
        load_and_change(path, tag, fs).save(path, fs=fs)

    return job


def new_state(before, path: Path, tag: str):
    """The state the writer for `before` saves, computed in memory."""
    if before == NO_INDEX:
        return state(make_index(12, seed=5))
    return state(load_and_change(path, tag, ReadOnly()))


def job_for(before, path: Path, tag: str) -> Callable[[FileSystem], None]:
    return first_save(path) if before == NO_INDEX else add_and_remove(path, tag)


# -- starting points -----------------------------------------------------------------------------


def start_empty(root: Path) -> None:
    root.mkdir()


def start_saved(root: Path) -> None:
    root.mkdir()
    make_index().save(root / "idx")


def start_format1(root: Path) -> None:
    root.mkdir()
    write_format1(make_index(), root / "idx")


def start_format1_interrupted(root: Path) -> None:
    """What the format-1 save left after a crash between its renames, plus a stale copy."""
    root.mkdir()
    write_format1(make_index(), root / ".idx.previous")
    write_format1(make_index(3, seed=7), root / ".idx.tmp-k2j4h5g6")


STARTS = {
    "first save": start_empty,
    "replace": start_saved,
    "format-1 folder": start_format1,
    "format-1 interrupted": start_format1_interrupted,
}


def assert_clean(root: Path, expected) -> None:
    """One more uninterrupted load and save: same state, and nothing left but the index's own files."""
    path = root / "idx"
    if expected == NO_INDEX:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Index.load(path, fs=KillAt()).save(path, fs=KillAt())
    assert on_disk(path) == expected
    generation = (path / "manifest.json").read_text().split('"generation": ')[1].split(",")[0].zfill(6)
    own = [".lock", f"docs.{generation}.parquet", "manifest.json", f"vectors.{generation}.faiss"]
    assert sorted(os.listdir(path)) == own
    assert os.listdir(root) == ["idx"]


def steps_of(root: Path, tag: str) -> list[str]:
    """The steps of one uninterrupted writer from the state in `root` (run on a copy)."""
    trial = root.with_name(root.name + "-count")
    shutil.copytree(root, trial)
    fs = KillAt()
    before = on_disk(trial / "idx")
    assert not run(fs, job_for(before, trial / "idx", tag))
    shutil.rmtree(trial)
    return fs.steps


@pytest.mark.parametrize("start", list(STARTS))
def test_kill_at_every_step_of_a_save(tmp_path, start):
    template = tmp_path / "template"
    STARTS[start](template)
    old = on_disk(template / "idx")
    new = new_state(old, template / "idx", "a")
    steps = steps_of(template, "a")
    survived = 0
    for at in range(len(steps)):
        root = tmp_path / f"t{at}"
        shutil.copytree(template, root)
        assert run(KillAt(at), job_for(old, root / "idx", "a"))
        found = on_disk(root / "idx")
        assert found in (old, new), f"killed at step {at} ({steps[at]}): neither the old nor the new index"
        if "rename manifest.json" in steps[:at]:
            assert found == new, f"killed at step {at} ({steps[at]}) after the commit, yet the old index loads"
        assert_clean(root, found)
        survived += 1
        shutil.rmtree(root)
    print(f"\ncrash points, single ({start}): {len(steps)} tried, {survived} survived; steps: {steps}")
    assert survived == len(steps) >= 10


# The format-1 starting points take 40 s together: they run with -m slow.
SLOW_STARTS = ("format-1 folder", "format-1 interrupted")


@pytest.mark.parametrize(
    "start", [pytest.param(s, marks=pytest.mark.slow) if s in SLOW_STARTS else s for s in STARTS]
)
def test_kill_in_two_saves_in_a_row(tmp_path, start):
    template = tmp_path / "template"
    STARTS[start](template)
    old = on_disk(template / "idx")
    tried = 0
    for first_at in range(len(steps_of(template, "a"))):
        crashed = tmp_path / "crashed"
        shutil.copytree(template, crashed)
        assert run(KillAt(first_at), job_for(old, crashed / "idx", "a"))
        middle = on_disk(crashed / "idx")
        new = new_state(middle, crashed / "idx", "b")
        second_steps = steps_of(crashed, "b")
        for second_at in range(len(second_steps)):
            root = tmp_path / "t"
            shutil.copytree(crashed, root)
            assert run(KillAt(second_at), job_for(middle, root / "idx", "b"))
            found = on_disk(root / "idx")
            assert found in (middle, new), (
                f"killed at step {first_at} then at step {second_at} ({second_steps[second_at]}): index lost"
            )
            assert_clean(root, found)
            tried += 1
            shutil.rmtree(root)
        shutil.rmtree(crashed)
    print(f"\ncrash points, double ({start}): {tried} tried, {tried} survived")
    assert tried >= 100


def test_every_byte_of_every_file_corrupted_is_refused_naming_the_file(tmp_path):
    path = make_index(20).save(tmp_path / "idx")
    files = sorted(p for p in path.iterdir() if p.stat().st_size > 0)  # the lock file is empty
    assert [p.name for p in files] == ["docs.000001.parquet", "manifest.json", "vectors.000001.faiss"]
    tried = 0

    def refused(file: Path, what: str) -> None:
        nonlocal tried
        tried += 1
        try:
            Index.load(path)
        except IndexFormatError as exc:
            assert str(exc).startswith(str(file)), f"{file.name} {what}: the error names another file: {exc}"
        else:
            pytest.fail(f"{file.name} {what}: loaded")

    for file in files:
        good = file.read_bytes()
        with open(file, "r+b") as handle:  # flip bytes in place: one byte written per corruption
            for mask in (0xFF, 0x01):
                for i, byte in enumerate(good):
                    os.pwrite(handle.fileno(), bytes([byte ^ mask]), i)
                    refused(file, f"byte {i} xor {mask:#04x}")
                    os.pwrite(handle.fileno(), bytes([byte]), i)
        for size in sorted({0, 1, len(good) // 2, len(good) - 1}):
            file.write_bytes(good[:size])
            refused(file, f"truncated to {size} bytes")
        file.write_bytes(good + b"\n")
        refused(file, "one byte appended")
        file.unlink()
        with pytest.raises(IndexFormatError, match=file.name):
            Index.load(path)
        tried += 1
        file.write_bytes(good)
    assert state(Index.load(path)) == state(make_index(20))
    sizes = ", ".join(f"{p.name} {p.stat().st_size} B" for p in files)
    print(f"\ncorruptions: {tried} tried, {tried} refused naming the right file ({sizes}; each byte xor 0xFF, 0x01)")


EXIT_AT = """
import os, sys
from pathlib import Path
from tests.test_index_faults import KillAt, Killed, add_and_remove

class ExitAt(KillAt):
    def _reached(self, kind, path):
        if super()._reached(kind, path):
            if kind == "write":
                return True  # KillAt writes half the file, then raises: exit there instead
            os._exit(9)
        return False

try:
    add_and_remove(Path(sys.argv[1]), "a")(ExitAt(int(sys.argv[2])))
except Killed:
    os._exit(9)
"""


@pytest.mark.slow
def test_a_real_process_exit_at_every_step_agrees_with_the_simulation(tmp_path):
    import subprocess
    import sys

    template = tmp_path / "template"
    start_saved(template)
    old, new = on_disk(template / "idx"), new_state(on_disk(template / "idx"), template / "idx", "a")
    steps = steps_of(template, "a")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for at in range(len(steps)):
        root = tmp_path / f"t{at}"
        shutil.copytree(template, root)
        done = subprocess.run([sys.executable, "-c", EXIT_AT, str(root / "idx"), str(at)], env=env)
        assert done.returncode == 9, f"step {at} ({steps[at]}) was never reached"
        assert on_disk(root / "idx") in (old, new), f"process exited at step {at} ({steps[at]}): index lost"
        assert_clean(root, on_disk(root / "idx"))
