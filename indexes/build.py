"""`python -m indexes.build`: the command keeps this name; encoding lives in the retrieval layer.

This entry point is the one module of `indexes` that reaches up a layer, and only when run.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    from retrieval.build_cli import main as build_main

    return build_main(argv)


if __name__ == "__main__":
    sys.exit(main())
