"""Stage-2 training: a cross-encoder on stage-1 candidates, and the from-scratch recipe of both stages.

Apart from serving: `import rerank` never loads this package. ``python -m rerank.train`` is its
command line (`rerank.train.cli`); `rerank.train.recipe` trains both stages from a corpus.

Modules: `config` (the recipe), `trainer` (the trainer), `examples` and `data` (training rows
from stage-1 candidates), `evaluator` (threshold metrics per epoch), `fusion` and `stage1_weight`
(the fused stage-1 evidence's weights and thresholds), `residual` (training as a residual of stage
1), `initial` and `scratch` (the model training starts from), `history` (the training curves).
"""

from rerank.train.cli import main
from rerank.train.config import CrossEncoderConfig
from rerank.train.examples import Stage2Data, stage2_examples
from rerank.train.trainer import CrossEncoderResult, train_cross_encoder

__all__ = ["CrossEncoderConfig", "CrossEncoderResult", "Stage2Data", "main", "stage2_examples", "train_cross_encoder"]
