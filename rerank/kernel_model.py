"""A kernel-pooling interaction cross-encoder (K-NRM) as a Hugging Face sequence classifier.

It reads a (query, passage) pair the way a BERT cross-encoder does: one input,
``[CLS] query [SEP] passage [SEP]``, token types 0 and 1. It scores the pair from the cosine
similarities of every query token to every passage token (Xiong et al., 2017, "End-to-End Neural
Ad-hoc Ranking with Kernel Pooling"): Gaussian kernels count exact (mu = 1) and soft matches, each
kernel's count is saturated and length-normalised as in BM25 (learned k1 and b per kernel) and
averaged over the query terms, weighted by a learned per-token weight (initialised from the
corpus' IDF); a linear layer turns the kernel features into logits.

Its matching is built in, so what training must learn is small (term weights, kernel mix, token
vectors), and it starts from the stage-1 static token vectors. It is *not* a pretrained model.

`CrossEncoder(path)` loads it like any classifier once `register` has run (it registers the
``kernel_match`` model type with transformers' Auto classes; `rerank.CrossEncoderReranker.load`
calls it, and so does the training code that builds one). The saved folder also carries this file
and an ``auto_map``, so ``CrossEncoder(path, trust_remote_code=True)`` loads it where this package
is not installed. This file imports only torch and transformers for that reason.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

__all__ = ["KernelMatchConfig", "KernelMatchForSequenceClassification", "register"]

# Kernel centres: exact match, then soft matches from very similar to opposite (K-NRM's layout).
DEFAULT_MUS = (1.0, 0.9, 0.7, 0.5, 0.3, 0.1, -0.1, -0.3, -0.5, -0.7, -0.9)


class KernelMatchConfig(PretrainedConfig):
    """Sizes and kernels of a `KernelMatchForSequenceClassification`.

    Args:
        vocab_size, hidden_size: the token-vector table.
        mus: kernel centres on the cosine scale; `exact_sigma` is the width of a kernel at 1.0,
            `sigma` of every other kernel.
        avg_doc_length: the average passage length in tokens (BM25's length normalisation).
        special_token_ids: token ids never matched ([CLS], [SEP], [PAD], ...).
        max_position_embeddings: the longest pair it accepts (there are no position vectors; this
            only tells tokenizers and `CrossEncoder` the maximum length).
    """

    model_type = "kernel_match"

    def __init__(
        self,
        vocab_size: int = 30522,
        hidden_size: int = 256,
        mus: tuple[float, ...] | list[float] = DEFAULT_MUS,
        sigma: float = 0.1,
        exact_sigma: float = 1e-3,
        avg_doc_length: float = 200.0,
        special_token_ids: list[int] | None = None,
        max_position_embeddings: int = 512,
        pad_token_id: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(pad_token_id=pad_token_id, **kwargs)
        self.vocab_size = int(vocab_size)
        self.hidden_size = int(hidden_size)
        self.mus = [float(m) for m in mus]
        self.sigma = float(sigma)
        self.exact_sigma = float(exact_sigma)
        self.avg_doc_length = float(avg_doc_length)
        self.special_token_ids = [int(i) for i in (special_token_ids or [pad_token_id])]
        self.max_position_embeddings = int(max_position_embeddings)


class KernelMatchForSequenceClassification(PreTrainedModel):
    """K-NRM over (query, passage) pairs; ``logits`` has `config.num_labels` columns.

    Example:
        >>> config = KernelMatchConfig(vocab_size=10, hidden_size=4, special_token_ids=[0, 1, 2])
        >>> model = KernelMatchForSequenceClassification(config)
        >>> ids = torch.tensor([[1, 5, 2, 5, 6, 2]])
        >>> model(ids, token_type_ids=torch.tensor([[0, 0, 0, 1, 1, 1]])).logits.shape
        torch.Size([1, 1])
    """

    config_class = KernelMatchConfig
    base_model_prefix = "kernel_match"
    _no_split_modules: list[str] = []

    def __init__(self, config: KernelMatchConfig) -> None:
        super().__init__(config)
        k = len(config.mus)  # one feature per kernel
        self.embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.term_weights = nn.Embedding(config.vocab_size, 1)
        self.k1 = nn.Parameter(torch.zeros(k))
        self.b = nn.Parameter(torch.zeros(k))
        self.classifier = nn.Linear(k, config.num_labels)
        self.post_init()

    def _constants(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # Built from the config, not stored as buffers: non-persistent buffers are left uninitialised
        # when transformers loads a model on the meta device.
        config = self.config
        sigmas = [config.exact_sigma if m >= 1.0 else config.sigma for m in config.mus]
        return (
            torch.tensor(config.mus, device=device),
            torch.tensor(sigmas, device=device),
            torch.tensor(sorted(set(config.special_token_ids)), device=device),
        )

    def _init_weights(self, module: nn.Module) -> None:
        if module is self.embeddings:
            nn.init.normal_(module.weight, std=1.0)
        elif module is self.term_weights:
            nn.init.constant_(module.weight, 1.0)
        elif module is self.classifier:
            # Start as "the weighted share of query terms the passage contains": features lie in
            # [0, k1 + 1) = [0, 2) at the start, so exact-kernel weight 5 and bias -5 give logits in
            # [-5, 5), where the sigmoid and BCE still have gradient.
            nn.init.zeros_(module.weight)
            nn.init.constant_(module.bias, -5.0)
            with torch.no_grad():
                exact = [i for i, m in enumerate(self.config.mus) if m >= 1.0]
                module.weight[:, exact] = 5.0
                if self.config.num_labels == 2:
                    module.weight[0] = -module.weight[0]
                    module.bias[0] = 5.0
        elif module is self:
            nn.init.constant_(self.k1, 0.5413)  # softplus(0.5413) = 1.0
            nn.init.constant_(self.b, 0.0)  # sigmoid(0) = 0.5

    @staticmethod
    def _counts(
        embedded: torch.Tensor, span: int, doc_mask: torch.Tensor, mus: torch.Tensor, sigmas: torch.Tensor
    ) -> torch.Tensor:
        """Soft term frequency per query token and kernel: (batch, span, kernels)."""
        vectors = nn.functional.normalize(embedded, dim=-1)
        sim = torch.einsum("bqh,bdh->bqd", vectors[:, :span], vectors)  # query x all positions
        kernels = torch.exp(-((sim.unsqueeze(-1) - mus) ** 2) / (2 * sigmas**2))
        return (kernels * doc_mask[:, None, :, None]).sum(dim=2)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings = value

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        if token_type_ids is None:
            raise ValueError(
                "KernelMatch needs token_type_ids to tell the query (0) from the passage (1): tokenize the "
                "(query, passage) pair together with a BERT-style tokenizer"
            )
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        mus, sigmas, special = self._constants(input_ids.device)
        usable = (attention_mask > 0) & ~torch.isin(input_ids, special)
        query_mask = usable & (token_type_ids == 0)
        doc_mask = (usable & (token_type_ids == 1)).to(self.embeddings.weight.dtype)
        # The query comes first: only the first `span` positions can hold query tokens. Padding has
        # token type 0 too, so it is left out of the count (else `span` is the padded length).
        query_span = (token_type_ids == 0) & (attention_mask > 0)
        span = int(query_span.sum(dim=1).max().item()) if input_ids.shape[0] else 0
        q_mask = query_mask[:, :span].to(doc_mask.dtype)

        counts = self._counts(self.embeddings(input_ids), span, doc_mask, mus, sigmas)
        length = doc_mask.sum(dim=1).clamp_min(1.0)[:, None, None] / self.config.avg_doc_length
        k1 = nn.functional.softplus(self.k1)
        b = torch.sigmoid(self.b)
        saturated = counts * (k1 + 1) / (counts + k1 * (1 - b + b * length))
        # Query-term weights, as a weighted mean over query terms (not a sum): the same scale for
        # short and long queries.
        weights = nn.functional.softplus(self.term_weights(input_ids).squeeze(-1))[:, :span] * q_mask
        weights = weights / weights.sum(dim=1, keepdim=True).clamp_min(1e-6)
        logits = self.classifier((saturated * weights.unsqueeze(-1)).sum(dim=1))

        loss = None
        if labels is not None:
            if self.config.num_labels == 1:
                loss = nn.functional.binary_cross_entropy_with_logits(logits.view(-1), labels.float().view(-1))
            else:
                loss = nn.functional.cross_entropy(logits, labels.long().view(-1))
        return SequenceClassifierOutput(loss=loss, logits=logits)


def register() -> None:
    """Make ``AutoModelForSequenceClassification`` (so ``CrossEncoder(path)``) load ``kernel_match`` folders.

    Registers the config and the model with transformers' Auto classes, and marks both classes so
    that saving a model writes this file and an ``auto_map`` beside it. Idempotent; the one place
    this module changes anything outside itself.

    Example:
        >>> register()
        >>> from transformers import AutoConfig
        >>> AutoConfig.for_model("kernel_match").model_type
        'kernel_match'
    """
    KernelMatchConfig.register_for_auto_class()
    KernelMatchForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")
    AutoConfig.register(KernelMatchConfig.model_type, KernelMatchConfig, exist_ok=True)
    AutoModelForSequenceClassification.register(KernelMatchConfig, KernelMatchForSequenceClassification, exist_ok=True)
