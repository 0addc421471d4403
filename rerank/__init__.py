"""Stage 2: cross-encoder reranking of stage-1 candidates, with its output conventions and fast paths."""

from rerank.calibration import CALIBRATION_FILE, read_calibration
from rerank.cross_encoder import CrossEncoderReranker, RerankStats
from rerank.fusion import choose_stage1_weight, fuse_stage1
# Importing kernel_model registers the "kernel_match" architecture with transformers' Auto classes,
# so CrossEncoder(path) loads a K-NRM reranker trained here (the package's one import-time effect).
from rerank.kernel_model import KernelMatchConfig, KernelMatchForSequenceClassification
from rerank.outputs import PairScores, activation_for, scores_from_logits
from rerank.packed_bert import PackedBert
from rerank.pairs import EncodedPairs, encode_pairs, token_batches
from rerank.reranker_ensemble import RerankerEnsemble, save_reranker_ensemble
from rerank.scratch import kernel_cross_encoder, random_cross_encoder

__all__ = [
    "CALIBRATION_FILE",
    "CrossEncoderReranker",
    "EncodedPairs",
    "KernelMatchConfig",
    "KernelMatchForSequenceClassification",
    "PackedBert",
    "PairScores",
    "RerankStats",
    "RerankerEnsemble",
    "activation_for",
    "choose_stage1_weight",
    "encode_pairs",
    "fuse_stage1",
    "kernel_cross_encoder",
    "random_cross_encoder",
    "read_calibration",
    "save_reranker_ensemble",
    "scores_from_logits",
    "token_batches",
]
