"""Stage 1: the encoder, the dense index builder and the Searcher, with the shared value types."""

from retrieval.encoder import Encoder, ModelLoadError, document_text
from retrieval.indexing import add_documents, build_index, load_index
from retrieval.searcher import Searcher
from retrieval.sentence_reranker import with_sentence_scores
from retrieval.sentences import SentenceScorer
from retrieval.types import Hit, Reranker, Run

__all__ = [
    "Encoder",
    "Hit",
    "ModelLoadError",
    "Reranker",
    "Run",
    "Searcher",
    "SentenceScorer",
    "add_documents",
    "build_index",
    "document_text",
    "load_index",
    "with_sentence_scores",
]
