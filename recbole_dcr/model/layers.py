"""Shared plumbing of the DCR models: the NFM backbone over (U, X[, A]), P(a), and the expert block.

Reference: Xiangnan He et al. "Addressing Confounding Feature Issue for Causal Recommendation",
ACM TOIS 2022 (DCR); Xiangnan He and Tat-Seng Chua, "Neural Factorization Machines for Sparse
Predictive Analytics", SIGIR 2017 (NFM).
"""

import torch
from recbole.model.abstract_recommender import ContextRecommender
from recbole.model.layers import BaseFactorizationMachine
from torch import nn
from torch.nn.init import constant_, normal_, xavier_normal_

from recbole_dcr.compat import offsets_on_device
from recbole_dcr.model.experts import ExpertBlock


class _DatasetWithoutFields:
    """A read-only view of a dataset in which some fields do not exist, for RecBole's feature tables."""

    def __init__(self, dataset, hidden_fields):
        self._dataset = dataset
        self._hidden = set(hidden_fields)

    def fields(self, ftype=None, source=None):
        return [f for f in self._dataset.fields(ftype, source) if f not in self._hidden]

    def __getattr__(self, name):
        return getattr(self._dataset, name)


class ConfounderPlumbing:
    """The confounder's bookkeeping, shared by every recbole_dcr model: P(a) and value indices.

    ``confounder_prior`` (P(a), eq. 2, from the training split the model is built on) is a buffer,
    so it is saved and loaded with the model's weights.
    """

    def _init_confounder(self, config, dataset):
        self.CONFOUNDER = dataset.confounder_field  # the joint field when CONFOUNDER_FIELD lists several
        prior = dataset.confounder_prior().float()
        self.num_confounder_values = len(prior)
        self.register_buffer("confounder_prior", prior)

    def confounder_index(self, interaction):
        """Expert index 0..K-1 of each row (RecBole ids are 1..K; 0 is padding)."""
        return interaction[self.CONFOUNDER].long() - 1


class ConfounderAwareRecommender(ConfounderPlumbing, ContextRecommender):
    """NFM backbone m = f_Θ(u, x) shared by the recbole_dcr models, plus the confounder's bookkeeping.

    Subclasses set ``confounder_as_input``: True feeds A to the backbone like any other field
    (P(Y|U,X,A)); False keeps A out of the backbone (NFM-WOA, and DCR-MoE whose experts handle A).
    """

    confounder_as_input = True

    def __init__(self, config, dataset):
        # Several confounders enter as their joint field only, so that fixing it fixes all of them.
        hidden = list(dataset.confounder_parts) + ([] if self.confounder_as_input else [dataset.confounder_field])
        super().__init__(config, _DatasetWithoutFields(dataset, hidden))
        self._init_confounder(config, dataset)

        self.bi_interaction = BaseFactorizationMachine(reduce_sum=False)
        # BatchNorm on m (NFM's paper has it; the DCR authors' code does not): matching_batch_norm.
        self.bn = nn.BatchNorm1d(num_features=self.embedding_size) if config["matching_batch_norm"] else nn.Identity()
        # The first-order logit either enters the MLP beside m (the DCR authors' code) or is added to its output.
        self.first_order_input = bool(config["first_order_input"])
        self.embedding_init_std = config["embedding_init_std"]
        self.mlp_init = config["mlp_init"]
        self.loss_reduction = config["loss_reduction"]
        if self.loss_reduction not in ("sum", "mean"):
            raise ValueError(f"loss_reduction must be 'sum' (the paper's eq. 3) or 'mean', got {self.loss_reduction!r}")
        self.loss = nn.BCEWithLogitsLoss(reduction=self.loss_reduction)
        offsets_on_device(self)  # no host-to-device copy per embedding lookup (a GPU step runs unbroken)

    def mlp_input_size(self, matching_size):
        """Width of what the MLP experts read: m, and the first-order logit when it is an input."""
        return matching_size + (1 if self.first_order_input else 0)

    def confounder_slot(self):
        """Position of the confounder's row in ``concat_embed_input_fields``' output (RecBole stacks
        token-sequence fields first, then token fields in ``token_field_names`` order)."""
        return len(self.token_seq_field_names) + self.token_field_names.index(self.CONFOUNDER)

    def matching(self, interaction, embeddings=None):
        """m: bi-interaction pooling 0.5((Σe)² − Σe²) of the feature embeddings (batch-normalized if asked)."""
        if embeddings is None:
            embeddings = self.concat_embed_input_fields(interaction)
        return self.bn(self.bi_interaction(embeddings))

    def first_order(self, interaction):
        """The linear term Σ w_f + b over the same fields as the backbone, shape [batch]."""
        return self.first_order_linear(interaction).squeeze(-1)

    def expert_input(self, interaction, embeddings=None):
        """(what the MLP experts read, what is added to their logit): ``[first order, m]`` and 0 when
        ``first_order_input``, else m and the first-order term."""
        m = self.matching(interaction, embeddings)
        first_order = self.first_order(interaction)
        if self.first_order_input:
            return torch.cat([first_order.unsqueeze(-1), m], dim=-1), torch.zeros_like(first_order)
        return m, first_order

    def _init_weights(self, module):
        if isinstance(module, nn.Embedding) and self.embedding_init_std:
            normal_(module.weight.data, 0.0, self.embedding_init_std)  # the DCR authors' N(0, 1e-4)
        elif isinstance(module, (nn.Embedding, nn.Linear)):
            xavier_normal_(module.weight.data)
            if getattr(module, "bias", None) is not None:
                constant_(module.bias.data, 0)
        elif isinstance(module, ExpertBlock):
            module.reset_parameters(self.mlp_init)

    def forward(self, interaction):
        """Logit of the training label for each row, given its observed features."""
        raise NotImplementedError

    def calculate_loss(self, interaction):
        return self.loss(self.forward(interaction), interaction[self.LABEL])

    def predict(self, interaction):
        return torch.sigmoid(self.forward(interaction))
