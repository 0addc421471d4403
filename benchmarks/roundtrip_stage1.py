"""Acceptance check for persistence: a SciFact index built through the command line, saved, then
searched from another process gives the same top-10 for every test query as before saving.

    python -m benchmarks.roundtrip_stage1 --encoder <model path> [--data-dir ../shared/datasets]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.paths import shared_dir

__all__ = ["main"]

_SEARCH_ALL = """
import json, sys
from retrieval import Searcher
queries = json.load(open(sys.argv[2]))
hits = Searcher(sys.argv[1]).query_batch([q for _, q in queries], k=10)
print(json.dumps([[(h.doc_id, h.score) for h in row] for row in hits]))
"""


def _search_in_new_process(index_dir: Path, queries_file: Path) -> list:
    out = subprocess.run(
        [sys.executable, "-c", _SEARCH_ALL, str(index_dir), str(queries_file)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.roundtrip_stage1", description=__doc__)
    parser.add_argument("--encoder", required=True, help="sentence-transformers model path or name")
    parser.add_argument("--data-dir", default=str(shared_dir() / "datasets"))
    parser.add_argument("--factory", default="Flat")
    args = parser.parse_args(argv)

    from benchmarks.collection import judged_query_texts
    from retrieval import Encoder, Searcher, build_index

    scifact = Path(args.data_dir) / "scifact"
    queries = list(judged_query_texts(scifact).items())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "queries.json").write_text(json.dumps(queries))
        cli_dir = tmp / "cli_index"
        subprocess.run(
            [sys.executable, "-m", "indexes.build", "--corpus", str(scifact), "--encoder", args.encoder,
             "--out", str(cli_dir), "--factory", args.factory],
            check=True,
        )
        encoder = Encoder.load(args.encoder)
        index = build_index(scifact, encoder, args.factory)
        before = [[(h.doc_id, h.score) for h in row] for row in Searcher(index, encoder).query_batch(
            [q for _, q in queries], k=10)]
        index.save(tmp / "lib_index")
        after_cli = _search_in_new_process(cli_dir, tmp / "queries.json")
        after_lib = _search_in_new_process(tmp / "lib_index", tmp / "queries.json")

    def same_ids(a, b):
        return sum([d for d, _ in x] == [d for d, _ in y] for x, y in zip(a, b))

    max_diff = max(abs(s1 - s2) for x, y in zip(before, after_cli) for (_, s1), (_, s2) in zip(x, y))
    report = {
        "queries": len(queries),
        "same_top10_saved_then_new_process": same_ids(before, after_lib),
        "same_top10_cli_built_new_process": same_ids(before, after_cli),
        "max_score_difference_cli": max_diff,
    }
    print(json.dumps(report, indent=2))
    ok = report["same_top10_saved_then_new_process"] == report["same_top10_cli_built_new_process"] == len(queries)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
