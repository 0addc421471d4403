"""A kernel-pooling interaction cross-encoder (K-NRM) as a Hugging Face sequence classifier.

It reads a (query, passage) pair the way a BERT cross-encoder does: one input,
``[CLS] query [SEP] passage [SEP]``, token types 0 and 1. It scores the pair from the cosine
similarities of every query token to every passage token (Xiong et al., 2017, "End-to-End Neural
Ad-hoc Ranking with Kernel Pooling"): Gaussian kernels count exact (mu = 1) and soft matches, each
kernel's count is saturated and length-normalised as in BM25 (learned k1 and b per kernel) and
averaged over the query terms, weighted by a learned per-token weight (initialised from the
corpus' IDF); a linear layer turns the kernel features into logits.

Why it exists: a BERT classifier trained from random weights on a few thousand labelled pairs learns
nothing useful here (SciFact: reranking fell to nDCG@10 0.19); this model's matching is built in,
so what training must learn is small (term weights, kernel mix, token vectors), and it starts
from the stage-1 static token vectors. It is *not* a pretrained model.

`CrossEncoder(path)` loads it like any classifier once this module is imported (``import rerank``
registers the ``kernel_match`` model type with transformers' Auto classes). The saved folder also
carries this file and an ``auto_map``, so ``CrossEncoder(path, trust_remote_code=True)`` loads it
where this package is not installed. This file imports only torch and transformers for that reason.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

__all__ = ["KernelMatchConfig", "KernelMatchForSequenceClassification"]

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
        tuned_table: a second token-vector table (``tuned_embeddings``, a copy of the first at the
            start) whose kernel features sit beside the first's: training can tune it while the first
            stays as it was given.
        bigrams: also match adjacent token pairs (Conv-KNRM's n-gram cross-matching, without the
            convolution): a pair's vector is the sum of its two unit token vectors, so the exact kernel
            counts a query bigram found as a bigram in the passage (in either order) and the soft
            kernels near-synonymous pairs. A WordPiece word split into pieces is matched whole this way.
            Its kernel features follow the unigram ones, with their own k1, b and classifier weights
            (zero at the start: an untrained model scores as the unigram one).
        term_hidden: 0, or the width of a small network (one tanh layer) that scores each query term
            from its saturated kernel features, added to the linear score: a term can then count as
            matched when any one kernel fires strongly, which a weighted sum of kernels cannot express.
            Its output layer starts at zero: an untrained model scores as without it.
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
        tuned_table: bool = False,
        bigrams: bool = False,
        term_hidden: int = 0,
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
        self.tuned_table = bool(tuned_table)
        self.bigrams = bool(bigrams)
        self.term_hidden = int(term_hidden)
        if self.term_hidden < 0:
            raise ValueError(f"term_hidden must be 0 (off) or a positive width, got {term_hidden}")


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
        # Kernel features of each table side by side, unigrams first, then (with `bigrams`) adjacent pairs.
        k = len(config.mus) * (2 if config.tuned_table else 1) * (2 if config.bigrams else 1)
        self.embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.tuned_embeddings = (
            nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
            if config.tuned_table else None
        )
        self.term_weights = nn.Embedding(config.vocab_size, 1)
        self.k1 = nn.Parameter(torch.zeros(k))
        self.b = nn.Parameter(torch.zeros(k))
        self.classifier = nn.Linear(k, config.num_labels)
        # One per-term network per view (unigrams, then pairs), reading that view's kernel features.
        views = 2 if config.bigrams else 1
        self.term_scorers = (
            nn.ModuleList(
                nn.Sequential(nn.Linear(k // views, config.term_hidden), nn.Tanh(), nn.Linear(config.term_hidden, config.num_labels))
                for _ in range(views)
            )
            if config.term_hidden else None
        )
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
        if module is self.embeddings or module is self.tuned_embeddings:
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
                tables = 2 if self.config.tuned_table else 1
                exact = [i for i, m in enumerate(self.config.mus * tables) if m >= 1.0]
                module.weight[:, exact] = 5.0 / tables  # split between the tables: the same start score
                if self.config.num_labels == 2:
                    module.weight[0] = -module.weight[0]
                    module.bias[0] = 5.0
        elif self.term_scorers is not None and any(module is scorer[-1] for scorer in self.term_scorers):
            nn.init.zeros_(module.weight)  # the term networks start silent: the same scores as without them
            nn.init.zeros_(module.bias)
        elif self.term_scorers is not None and any(module is scorer[0] for scorer in self.term_scorers):
            nn.init.normal_(module.weight, std=0.5)
            nn.init.zeros_(module.bias)
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

    @staticmethod
    def _pairs(embedded: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Adjacent-pair vectors (the sum of the two unit vectors) and their mask, padded to the same length."""
        units = nn.functional.normalize(embedded, dim=-1)
        pairs = nn.functional.pad(units[:, :-1] + units[:, 1:], (0, 0, 0, 1))
        return pairs, nn.functional.pad(mask[:, :-1] * mask[:, 1:], (0, 1))

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
        # token type 0 too, so it is left out of the count (counting it made `span` the padded
        # length for every batch with a short passage: 5x slower training, same scores).
        query_span = (token_type_ids == 0) & (attention_mask > 0)
        span = int(query_span.sum(dim=1).max().item()) if input_ids.shape[0] else 0
        q_mask = query_mask[:, :span].to(doc_mask.dtype)

        tables = [self.embeddings] + ([self.tuned_embeddings] if self.tuned_embeddings is not None else [])
        embedded = [table(input_ids) for table in tables]
        length = doc_mask.sum(dim=1).clamp_min(1.0)[:, None, None] / self.config.avg_doc_length
        k1 = nn.functional.softplus(self.k1)
        b = torch.sigmoid(self.b)
        term = nn.functional.softplus(self.term_weights(input_ids).squeeze(-1))
        # (counts, query-term weights) per view: unigrams, then adjacent pairs weighted by their terms' mean.
        views = [(torch.cat([self._counts(e, span, doc_mask, mus, sigmas) for e in embedded], dim=-1), term[:, :span] * q_mask)]
        if self.config.bigrams:
            query = query_mask.to(doc_mask.dtype)
            pair_query = nn.functional.pad(query[:, 1:] * query[:, :-1], (0, 1))[:, :span]
            pair_term = nn.functional.pad((term[:, :-1] + term[:, 1:]) / 2, (0, 1))[:, :span]
            paired = [self._pairs(e, doc_mask) for e in embedded]
            views.append((torch.cat([self._counts(p, span, m, mus, sigmas) for p, m in paired], dim=-1), pair_term * pair_query))
        features, width = [], len(self.config.mus) * len(tables)  # kernel features per view
        per_term = 0.0
        for i, (counts, weights) in enumerate(views):
            k1v, bv = k1[i * width:(i + 1) * width], b[i * width:(i + 1) * width]
            saturated = counts * (k1v + 1) / (counts + k1v * (1 - bv + bv * length))
            # A weighted mean over query terms (not a sum): the same scale for short and long queries.
            weights = weights / weights.sum(dim=1, keepdim=True).clamp_min(1e-6)
            features.append((saturated * weights.unsqueeze(-1)).sum(dim=1))
            if self.term_scorers is not None:
                per_term = per_term + (self.term_scorers[i](saturated) * weights.unsqueeze(-1)).sum(dim=1)
        logits = self.classifier(torch.cat(features, dim=-1)) + per_term

        loss = None
        if labels is not None:
            if self.config.num_labels == 1:
                loss = nn.functional.binary_cross_entropy_with_logits(logits.view(-1), labels.float().view(-1))
            else:
                loss = nn.functional.cross_entropy(logits, labels.long().view(-1))
        return SequenceClassifierOutput(loss=loss, logits=logits)


KernelMatchConfig.register_for_auto_class()
KernelMatchForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")
AutoConfig.register(KernelMatchConfig.model_type, KernelMatchConfig, exist_ok=True)
AutoModelForSequenceClassification.register(KernelMatchConfig, KernelMatchForSequenceClassification, exist_ok=True)
