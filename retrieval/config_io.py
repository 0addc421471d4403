"""Frozen dataclass configs that round-trip to JSON: one place for the checks and the file format.

The training configs (`retrieval.train.config.BiEncoderConfig`, `rerank.train.config.CrossEncoderConfig`)
inherit `JsonConfig`; the benchmark setups (`benchmarks.config`) use `checked_fields` for their
nested sections.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["JsonConfig", "checked_fields"]

C = TypeVar("C", bound="JsonConfig")


def checked_fields(cls: type, data: Mapping[str, Any], what: str = "config key(s)", where: str = "") -> dict[str, Any]:
    """`data` as a dict, refusing keys that are not fields of the dataclass `cls`, by name.

    Example:
        >>> @dataclasses.dataclass
        ... class Point:
        ...     x: int = 0
        >>> checked_fields(Point, {"x": 1})
        {'x': 1}
        >>> checked_fields(Point, {"y": 1}, where="point")
        Traceback (most recent call last):
        ...
        ValueError: unknown config key(s) ['y'] in [point]; known: ['x']
    """
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        place = f" in [{where}]" if where else ""
        raise ValueError(f"unknown {what} {unknown}{place}; known: {sorted(known)}")
    return dict(data)


class JsonConfig:
    """A frozen dataclass's `replace`, `to_dict`, `from_dict` (unknown keys refused), `save` and `load`.

    Subclasses are frozen dataclasses; `CONFIG_NAME` names them in errors.

    Example:
        >>> @dataclasses.dataclass(frozen=True)
        ... class Recipe(JsonConfig):
        ...     epochs: int = 1
        >>> Recipe.from_dict(Recipe(epochs=3).to_dict()).replace(epochs=4)
        Recipe(epochs=4)
    """

    CONFIG_NAME = "config"

    def replace(self: C, **changes: Any) -> C:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
        return cls(**checked_fields(cls, data, f"{cls.CONFIG_NAME} keys"))

    def save(self, path: str | Path) -> None:
        """Write the config as JSON (sorted keys) to `path`."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))

    @classmethod
    def load(cls: type[C], path: str | Path) -> C:
        """Read a config that `save` wrote."""
        return cls.from_dict(json.loads(Path(path).read_text()))
