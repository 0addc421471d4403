"""Stage 2: cross-encoder reranking of stage-1 candidates, with its output conventions and fast paths."""

from rerank.calibration import CALIBRATION_FILE, read_calibration
from rerank.cross_encoder import CrossEncoderReranker, RerankStats
from rerank.outputs import PairScores, activation_for, scores_from_logits
from rerank.packed_bert import PackedBert
from rerank.pairs import EncodedPairs, encode_pairs, token_batches
from rerank.scratch import random_cross_encoder

__all__ = [
    "CALIBRATION_FILE",
    "CrossEncoderReranker",
    "EncodedPairs",
    "PackedBert",
    "PairScores",
    "RerankStats",
    "activation_for",
    "encode_pairs",
    "random_cross_encoder",
    "read_calibration",
    "scores_from_logits",
    "token_batches",
]
