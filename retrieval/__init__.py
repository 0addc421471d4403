"""Stage 1: the encoder, the dense index builder and the Searcher, with the shared value types."""

from retrieval.encoder import Encoder, ModelLoadError, document_text
from retrieval.indexing import add_documents, build_index, load_index
from retrieval.searcher import Searcher
from retrieval.types import Hit, Reranker, Run

__all__ = [
    "Encoder",
    "Hit",
    "ModelLoadError",
    "Reranker",
    "Run",
    "Searcher",
    "add_documents",
    "build_index",
    "document_text",
    "load_index",
]
