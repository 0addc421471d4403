"""`python -m rerank.train`: see `rerank.train.cli`."""

from rerank.train.cli import main

raise SystemExit(main())
