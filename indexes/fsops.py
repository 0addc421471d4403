"""Every step by which the storage layer changes the disk, in one small object.

`indexes.directory` makes each write, fsync, rename and delete through a `FileSystem`, one call
per step, and never touches the disk another way while writing. This is the seam SQLite calls a
VFS: a test passes a subclass that stops the writer at step N, as a kill would, and checks that
what is left on disk loads as the old index or the new one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["FileSystem", "file_sha256"]


class FileSystem:
    """The real file system: one method per step, each one system call or one writer.

    Example:
        >>> import tempfile
        >>> fs, folder = FileSystem(), Path(tempfile.mkdtemp())
        >>> fs.write(folder / "a.tmp", lambda p: p.write_text("hello"))
        >>> fs.fsync(folder / "a.tmp"); fs.rename(folder / "a.tmp", folder / "a")
        >>> (folder / "a").read_text()
        'hello'
    """

    def makedirs(self, path: Path) -> None:
        """Create a folder and any missing parents."""
        os.makedirs(path, exist_ok=True)

    def write(self, path: Path, writer: Callable[[Path], None]) -> None:
        """Create or overwrite the file at `path` by calling `writer(path)` (FAISS and Arrow write by path)."""
        writer(path)

    def fsync(self, path: Path) -> None:
        """Flush a file's data to the device."""
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def fsync_dir(self, path: Path) -> None:
        """Flush a folder's entries (a creation, rename or removal in it) to the device."""
        self.fsync(path)

    def rename(self, source: Path, target: Path) -> None:
        """Atomically replace `target` with `source` (POSIX rename)."""
        os.replace(source, target)

    def unlink(self, path: Path) -> None:
        """Delete a file; one that is already gone is no error."""
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    def rmdir(self, path: Path) -> None:
        """Delete an empty folder."""
        os.rmdir(path)

    def open_lock(self, path: Path) -> int:
        """Open (creating when missing) the lock file; returns a descriptor for `fcntl.flock`."""
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def file_sha256(path: str | Path) -> str:
    """The sha256 hex digest of a file's bytes, read in 4 MiB blocks."""
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            sha.update(block)
    return sha.hexdigest()
