"""Stage-1 training: fine-tune a sentence-transformers model, or train one from scratch on a corpus.

Apart from serving: `import retrieval` never loads this package. ``python -m retrieval.train`` is
its command line (`retrieval.train.cli`).

Modules: `config` (the recipe), `bi_encoder` (the trainer), `pairs` and `mining` (training data),
`data` (a BEIR folder's train split), `tokenizer` (a deterministic WordPiece trainer), `scratch`
(random-weight models), `term_stats` (corpus IDF per token), `hf_trainer` (what both stages'
trainers share).
"""

from retrieval.train.bi_encoder import (
    MAIN_PART, BiEncoderResult, corpus_anchors, join_static_models, static_part, train_bi_encoder,
)
from retrieval.train.cli import main
from retrieval.train.config import BiEncoderConfig

__all__ = [
    "MAIN_PART",
    "BiEncoderConfig",
    "BiEncoderResult",
    "corpus_anchors",
    "join_static_models",
    "main",
    "static_part",
    "train_bi_encoder",
]
