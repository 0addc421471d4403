"""`python -m retrieval.train`: see `retrieval.train.cli`."""

from retrieval.train.cli import main

raise SystemExit(main())
