"""An index directory on disk, replaced so that some complete version always loads.

Layout::

    idx/manifest.json         the commit pointer: names the current data files, with sizes and sha256
    idx/vectors.000007.faiss  the FAISS index of save number (generation) 7
    idx/docs.000007.parquet   its document store
    idx/.lock                 advisory lock (fcntl.flock) held by a writer for the whole save

Save (every write, fsync, rename and delete is one call on `indexes.fsops.FileSystem`):

1. Refuse the path unless it is missing, an empty folder, or a folder this library wrote: one
   holding a readable manifest.json, or only files with this library's names (what an
   interrupted first save leaves). A file, a folder of other things, or an unreadable manifest
   raises `IndexPathError`; nothing is moved or deleted.
2. Create the folder if missing and take the lock, waiting up to `lock_timeout` seconds, else
   `IndexConflictError`. Under the lock, read the committed manifest (generation g). If the index
   being saved was loaded from this folder at another generation, another writer saved in
   between: refuse with `IndexConflictError` rather than lose its update.
3. Delete leftovers of interrupted saves: files with this library's names that the committed
   manifest does not name.
4. Write generation g+1's data files under their new names; fsync each.
5. Write manifest.json.tmp, fsync it, fsync the folder, rename it over manifest.json (the commit
   point), fsync the folder.
6. Delete generation g's data files, then legacy leftovers (below).

Invariant: manifest.json only ever names complete, fsynced files, and a file is deleted only
once no manifest names it. A writer stopped at any step, in any number of saves in a row, leaves
the old manifest with its files or the new one with its; what else it left is a leftover that no
manifest names, deleted by the next save, or by the next load when no writer holds the lock.

Load reads manifest.json (every field and its checksum checked, see `indexes.manifest`), then
checks each data file's size and sha256, naming the file that fails. If a writer replaced the
version between the manifest and the files, the load starts again.

Format 1, the layout before this one, kept fixed names (vectors.faiss, docs.parquet) and a
manifest without checksum, and replaced the whole folder by two renames, so a crash could leave
only `.idx.previous` beside a missing `idx` and full `.idx.tmp-*` copies. It is read as before
(falling back to `.idx.previous` while `idx` has no manifest). The first save into it migrates in
place by the steps above: its fixed-name files are deleted at step 6, and so are `.idx.previous`
and `.idx.tmp-*` folders that hold nothing but format-1 files.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from indexes.errors import IndexConflictError, IndexFormatError, IndexPathError
from indexes.fsops import FileSystem, file_sha256
from indexes.manifest import Manifest, data_file_names, library_versions

__all__ = ["LOCK", "MANIFEST", "IndexDirectory"]

T = TypeVar("T")
MANIFEST, MANIFEST_TMP, LOCK = "manifest.json", "manifest.json.tmp", ".lock"
_OWN_FILE = re.compile(r"(vectors\.\d{6,}\.faiss|docs\.\d{6,}\.parquet|manifest\.json\.tmp|\.lock)")
_LEGACY_FILES = {MANIFEST, *data_file_names(1, 0).values()}
_LEGACY_SIBLING = re.compile(r"previous|tmp-[A-Za-z0-9_]+")
_LOAD_ATTEMPTS = 5


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _parse(text: bytes, source: Path) -> Manifest:
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IndexFormatError(f"{source}: not UTF-8 text ({exc.reason}); the manifest is corrupt") from exc
    return Manifest.from_json(decoded, source)


class IndexDirectory:
    """One index folder: its committed manifest, the save protocol, the lock and the cleanup.

    Args:
        path: the index folder.
        fs: the file-system steps (tests pass one that fails at a chosen step).
    """

    def __init__(self, path: str | Path, fs: FileSystem | None = None) -> None:
        self.path = Path(path).absolute()
        self.fs = fs or FileSystem()

    @property
    def key(self) -> str:
        """The folder's real path: the same for every way of naming it."""
        return os.path.realpath(self.path)

    def committed(self) -> Manifest | None:
        """The committed manifest (checked), or None when there is none."""
        text = self._manifest_bytes()
        return None if text is None else _parse(text, self.path / MANIFEST)

    # -- saving ------------------------------------------------------------------------------

    @contextmanager
    def writing(self, lock_timeout: float, loaded: Manifest | None = None) -> Iterator[Manifest | None]:
        """Hold the lock for a save; yields the committed manifest (steps 1 and 2 of the protocol).

        `loaded` is the manifest the index being saved was loaded from (or last saved as) in this
        folder: if another is committed now, another writer saved in between.
        """
        self._check_target()
        try:
            if not self.path.is_dir():
                self.fs.makedirs(self.path)
                self.fs.fsync_dir(self.path.parent)
            fd = self.fs.open_lock(self.path / LOCK)
        except OSError as exc:
            raise IndexPathError(f"{self.path}: cannot write an index here ({exc.strerror or exc})") from exc
        try:
            self._acquire(fd, lock_timeout)
            self._check_target()
            current = self.committed()
            if loaded is not None and (current is None or current.to_json() != loaded.to_json()):
                found = "deleted it" if current is None else f"saved it (save {current.generation})"
                raise IndexConflictError(
                    f"{self.path}: another writer {found} after this index was loaded (save {loaded.generation}); "
                    "saving would lose that update. Load it again and redo your changes."
                )
            yield current
        finally:
            os.close(fd)

    def commit(
        self, current: Manifest | None, manifest: Manifest, writers: dict[str, Callable[[Path], None]]
    ) -> Manifest:
        """Write a new version and make it current (steps 3 to 6); call inside `writing`."""
        self._remove_leftovers(current)
        generation = (current.generation if current is not None else 0) + 1
        names = data_file_names(2, generation)
        files = {}
        for role, writer in writers.items():
            target = self.path / names[role]
            self.fs.write(target, writer)
            self.fs.fsync(target)
            files[target.name] = {"bytes": target.stat().st_size, "sha256": file_sha256(target)}
        manifest = replace(
            manifest, format_version=2, generation=generation, files=files, libraries=library_versions()
        )
        text = manifest.to_json().encode("ascii")
        tmp = self.path / MANIFEST_TMP
        self.fs.write(tmp, lambda p: p.write_bytes(text))
        self.fs.fsync(tmp)
        self.fs.fsync_dir(self.path)
        self.fs.rename(tmp, self.path / MANIFEST)
        self.fs.fsync_dir(self.path)
        try:
            for name in sorted(set(current.files) - set(files) if current is not None else ()):
                self.fs.unlink(self.path / name)
            self._remove_legacy_siblings()
        except OSError as exc:  # the save is done: what is left is a leftover for the next save or load
            warnings.warn(f"{self.path}: saved, but the previous version's files stay for now ({exc})", stacklevel=3)
        return manifest

    def _check_target(self) -> None:
        path = self.path
        if path.exists() and not path.is_dir():
            raise IndexPathError(f"{path} is a file, not an index directory; save the index elsewhere")
        if not path.is_dir():
            return
        if (path / MANIFEST).exists():
            try:
                self.committed()
            except IndexFormatError as exc:
                raise IndexPathError(
                    f"{path} holds a manifest this library cannot read, so saving will not replace it ({exc}). "
                    "Remove the folder yourself or save elsewhere."
                ) from exc
            return
        foreign = sorted(e.name for e in os.scandir(path) if not self._is_own_file(e))
        if foreign:
            listed = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise IndexPathError(
                f"{path} exists and is not an index directory (it holds {listed}); saving never deletes what "
                "it did not write. Choose a new or empty folder."
            )

    @staticmethod
    def _is_own_file(entry: os.DirEntry) -> bool:
        return bool(_OWN_FILE.fullmatch(entry.name)) and entry.is_file(follow_symlinks=False)

    def _acquire(self, fd: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise IndexConflictError(
                        f"{self.path}: another writer is saving this index (it holds {self.path / LOCK}); "
                        f"waited {timeout:g} s. Try again once it is done."
                    ) from None
                time.sleep(0.02)

    # -- leftovers ---------------------------------------------------------------------------

    def _leftovers(self, current: Manifest | None) -> list[Path]:
        """Files with this library's names that `current` does not name (format-1 names only beside a manifest)."""
        keep = set(current.files) if current is not None else set()
        ours = set(data_file_names(1, 0).values()) if current is not None else set()
        found = [
            Path(e.path)
            for e in os.scandir(self.path)
            if (self._is_own_file(e) or (e.name in ours and e.is_file(follow_symlinks=False)))
            and e.name != LOCK
            and e.name not in keep
        ]
        return sorted(found)

    def _legacy_siblings(self) -> list[Path]:
        prefix = f".{self.path.name}."
        found = []
        for entry in os.scandir(self.path.parent):
            if not entry.name.startswith(prefix) or not _LEGACY_SIBLING.fullmatch(entry.name[len(prefix) :]):
                continue
            if entry.is_dir(follow_symlinks=False) and set(os.listdir(entry.path)) <= _LEGACY_FILES:
                found.append(Path(entry.path))
        return sorted(found)

    def _remove_leftovers(self, current: Manifest | None) -> None:
        for path in self._leftovers(current):
            self.fs.unlink(path)

    def _remove_legacy_siblings(self) -> None:
        for folder in self._legacy_siblings():
            for name in sorted(os.listdir(folder)):
                self.fs.unlink(folder / name)
            self.fs.rmdir(folder)

    def tidy(self) -> None:
        """Delete leftovers of interrupted saves, unless a writer holds the lock (after a load)."""
        try:
            current = self.committed()
            if current is None or not (self._leftovers(current) or self._legacy_siblings()):
                return
            fd = self.fs.open_lock(self.path / LOCK)
        except (OSError, IndexFormatError):
            return  # read-only or changing under us: leave it to the next save
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            current = self.committed()
            if current is not None:
                self._remove_leftovers(current)
                self._remove_legacy_siblings()
        finally:
            os.close(fd)

    # -- loading -----------------------------------------------------------------------------

    def read(
        self, load: Callable[[Manifest, dict[str, Path]], T], verify: bool = True
    ) -> tuple[T, Manifest | None]:
        """`load(manifest, data files by role)` on the checked current version.

        Returns its result and the manifest read, or None where a format-1 backup
        (``.idx.previous``) was read because the folder has no manifest.
        """
        for attempt in range(_LOAD_ATTEMPTS):
            text = self._manifest_bytes()
            if text is None:
                return self._read_backup(load, verify), None
            try:
                result, manifest = self._read_once(text, load, verify)
            except IndexFormatError:
                if attempt + 1 < _LOAD_ATTEMPTS and self._manifest_bytes() != text:
                    continue  # a writer committed a new version meanwhile: read that one
                raise
            return result, manifest
        raise AssertionError("unreachable")  # pragma: no cover

    def _manifest_bytes(self) -> bytes | None:
        source = self.path / MANIFEST
        if source.is_dir():
            raise IndexFormatError(f"{source}: a folder where the manifest file belongs")
        return _read_bytes(source)

    def _read_backup(self, load: Callable[[Manifest, dict[str, Path]], T], verify: bool) -> T:
        backup = IndexDirectory(self.path.with_name(f".{self.path.name}.previous"), self.fs)
        text = backup._manifest_bytes()
        if text is None:
            raise IndexFormatError(
                f"{self.path} is not an index directory (no {MANIFEST}); build one with python -m indexes.build"
            )
        warnings.warn(
            f"{self.path} has no manifest: a save was interrupted; loading the previous index {backup.path}",
            stacklevel=4,
        )
        return backup._read_once(text, load, verify)[0]

    def _read_once(
        self, text: bytes, load: Callable[[Manifest, dict[str, Path]], T], verify: bool
    ) -> tuple[T, Manifest]:
        manifest = _parse(text, self.path / MANIFEST)
        files = {role: self.path / name for role, name in manifest.data_files().items()}
        for file in files.values():
            expected = manifest.files[file.name]
            missing = IndexFormatError(f"{file}: missing; the index is incomplete, rebuild it")
            if not file.is_file():
                raise missing
            try:  # a writer's clean-up may delete the file between these steps; `read` then retries
                size = file.stat().st_size
                if size != expected["bytes"]:
                    raise IndexFormatError(
                        f"{file}: {size} bytes, the manifest says {expected['bytes']}: truncated; rebuild the index"
                    )
                if verify and file_sha256(file) != expected["sha256"]:
                    raise IndexFormatError(f"{file}: does not match its checksum: corrupt; rebuild the index")
            except FileNotFoundError as exc:
                raise missing from exc
        return load(manifest, files), manifest
