"""Stage 1: the encoder, the dense index builder and the Searcher, with the shared value types.

Serving only: training lives in `retrieval.train` (``python -m retrieval.train``), which this
package never imports. torch and sentence-transformers load when a model does, not at import.
"""

from retrieval.encoder import BULK_ENCODING, Encoder, ModelLoadError, document_text
from retrieval.encoder_ensemble import EncoderEnsemble
from retrieval.errors import InvalidTextError, QueryTruncatedWarning
from retrieval.indexing import add_documents, build_index, load_index
from retrieval.searcher import Searcher
from retrieval.sentence_reranker import with_sentence_scores
from retrieval.sentences import SentenceScorer
from retrieval.types import Hit, Reranker, Run, TextEncoder

__all__ = [
    "BULK_ENCODING",
    "Encoder",
    "EncoderEnsemble",
    "Hit",
    "InvalidTextError",
    "ModelLoadError",
    "QueryTruncatedWarning",
    "Reranker",
    "Run",
    "Searcher",
    "SentenceScorer",
    "TextEncoder",
    "add_documents",
    "build_index",
    "document_text",
    "load_index",
    "with_sentence_scores",
]
