"""Storage layer: FAISS vectors, an Arrow document store and a self-describing manifest.

numpy, faiss and pyarrow only: nothing here imports torch or a higher layer.
"""

from indexes.corpus import read_corpus
from indexes.docstore import DocStore
from indexes.documents import Document, validate_documents
from indexes.errors import (
    CorpusError,
    EncoderMismatchError,
    FactoryError,
    IndexConflictError,
    IndexFormatError,
    IndexPathError,
)
from indexes.fsops import FileSystem
from indexes.index import Index
from indexes.manifest import Manifest
from indexes.vectors import VectorIndex, gpu_count

__all__ = [
    "CorpusError",
    "DocStore",
    "Document",
    "EncoderMismatchError",
    "FactoryError",
    "FileSystem",
    "Index",
    "IndexConflictError",
    "IndexFormatError",
    "IndexPathError",
    "Manifest",
    "VectorIndex",
    "gpu_count",
    "read_corpus",
    "validate_documents",
]
