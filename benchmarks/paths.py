"""Where things live on disk: the checkout, the shared data folder and its datasets.

The shared folder (tokenizers, datasets) is ``$TWOSTAGE_SHARED`` when set, else ``shared/`` beside
the checkout. `find_data_dir` adds the datasets folder's own variable and an upward search, for a
notebook or script run from anywhere inside the checkout.

Example:
    >>> shared_dir().name  # doctest: +SKIP
    'shared'
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CHECKOUT", "DATA_ENV", "SHARED_ENV", "find_data_dir", "project_dir", "shared_dir"]

# The folder above this package: a checkout when the project is installed editable.
CHECKOUT = Path(__file__).resolve().parents[1]
SHARED_ENV = "TWOSTAGE_SHARED"
DATA_ENV = "TWOSTAGE_DATA_DIR"


def project_dir() -> Path:
    """The checkout this package runs from (the folder of ``pyproject.toml``), else the working directory."""
    return CHECKOUT if (CHECKOUT / "pyproject.toml").exists() else Path.cwd()


def shared_dir() -> Path:
    """The shared data folder: ``$TWOSTAGE_SHARED``, else ``shared/`` beside the checkout.

    The folder is not required to exist; callers that need it say so in their own words.
    """
    env = os.environ.get(SHARED_ENV)
    return Path(env) if env else CHECKOUT.parent / "shared"


def find_data_dir(start: str | Path | None = None) -> Path:
    """Where local datasets are: ``$TWOSTAGE_DATA_DIR``, ``$TWOSTAGE_SHARED/datasets``, else a search upwards.

    Without either variable, `start` (default: the working directory, a notebook's own folder) and
    then the checkout are searched upwards for ``shared/datasets``, so ``<checkout>/../shared/datasets``
    is found from anywhere inside it.

    Example:
        >>> find_data_dir().name  # doctest: +SKIP
        'datasets'
    """
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    if os.environ.get(SHARED_ENV):
        return shared_dir() / "datasets"
    looked = []
    for origin in (Path(start or Path.cwd()).resolve(), project_dir()):
        for folder in (origin, *origin.parents):
            candidate = folder / "shared" / "datasets"
            if candidate.is_dir():
                return candidate
        looked.append(str(origin))
    raise FileNotFoundError(
        f"no shared/datasets folder above {' or '.join(looked)}; set DATA_DIR (or ${DATA_ENV}) to the folder "
        "holding the datasets (<data-dir>/scifact/ in BEIR layout)"
    )
