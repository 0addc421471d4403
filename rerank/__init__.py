"""Stage 2: cross-encoder reranking of stage-1 candidates, with its output conventions and fast paths.

Serving only: training lives in `rerank.train` (``python -m rerank.train``), which this package
never imports. Importing it has no side effects and loads no torch: the padding-free BERT forward
(`rerank.packed_bert.PackedBert`) and the K-NRM model (`rerank.kernel_model`, registered with
transformers by its `register`) load when a reranker does.
"""

from rerank.calibration import CALIBRATION_FILE, read_calibration
from rerank.cross_encoder import CrossEncoderReranker, RerankStats
from rerank.fusion import fuse_stage1, stage1_z
from rerank.outputs import PairScores, activation_for, scores_from_logits
from rerank.pairs import EncodedPairs, encode_pairs, token_batches
from rerank.reranker_ensemble import RerankerEnsemble, is_reranker_ensemble, save_reranker_ensemble

__all__ = [
    "CALIBRATION_FILE",
    "CrossEncoderReranker",
    "EncodedPairs",
    "PairScores",
    "RerankStats",
    "RerankerEnsemble",
    "activation_for",
    "encode_pairs",
    "fuse_stage1",
    "is_reranker_ensemble",
    "read_calibration",
    "save_reranker_ensemble",
    "scores_from_logits",
    "stage1_z",
    "token_batches",
]
