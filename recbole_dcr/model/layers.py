"""Shared plumbing of the DCR models: the NFM backbone over (U, X[, A]), P(a), and the expert block.

Reference: Xiangnan He et al. "Addressing Confounding Feature Issue for Causal Recommendation",
ACM TOIS 2022 (DCR); Xiangnan He and Tat-Seng Chua, "Neural Factorization Machines for Sparse
Predictive Analytics", SIGIR 2017 (NFM).
"""

import math

import torch
import torch.nn.functional as F
from recbole.model.abstract_recommender import ContextRecommender
from recbole.model.layers import BaseFactorizationMachine
from torch import nn
from torch.nn.init import constant_, normal_, xavier_normal_


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

    def mlp_input_size(self, matching_size):
        """Width of what the MLP experts read: m, and the first-order logit when it is an input."""
        return matching_size + (1 if self.first_order_input else 0)

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
        elif isinstance(module, ExpertMLPs):
            module.reset_parameters(self.mlp_init)

    def forward(self, interaction):
        """Logit of the training label for each row, given its observed features."""
        raise NotImplementedError

    def calculate_loss(self, interaction):
        return self.loss(self.forward(interaction), interaction[self.LABEL])

    def predict(self, interaction):
        return torch.sigmoid(self.forward(interaction))


class ExpertMLPs(nn.Module):
    """K MLP experts (hidden layers with ReLU, then a 1-unit output) stored as stacked weights.

    ``experts(m)`` runs every expert on every row as batched matrix products: [batch, K];
    ``experts(m, expert_index)`` runs each row through the expert of its own confounder value only,
    so a row's gradient reaches only that expert (Algorithm 1, line 6): [batch].
    """

    INITS = ("xavier_normal", "uniform")

    def __init__(self, num_experts, input_size, hidden_sizes, dropout_prob=0.0, init="xavier_normal"):
        super().__init__()
        sizes = [input_size] + list(hidden_sizes) + [1]
        self.num_experts = num_experts
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(num_experts, n_in, n_out)) for n_in, n_out in zip(sizes[:-1], sizes[1:])
        )
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(num_experts, n_out)) for n_out in sizes[1:])
        self.dropout = nn.Dropout(dropout_prob)
        self.reset_parameters(init)

    def reset_parameters(self, init="xavier_normal"):
        """``xavier_normal``: N(0, 2/(n_in+n_out)) weights, zero biases (as NFM's own init);
        ``uniform``: torch's nn.Linear default, U(±1/√n_in) for weights and biases (as the authors' experts)."""
        if init not in self.INITS:
            raise ValueError(f"mlp_init must be one of {self.INITS}, got {init!r}")
        with torch.no_grad():
            for weight, bias in zip(self.weights, self.biases):
                n_in, n_out = weight.shape[1:]
                if init == "xavier_normal":
                    weight.normal_(0.0, math.sqrt(2.0 / (n_in + n_out)))
                    bias.zero_()
                else:
                    bound = 1.0 / math.sqrt(n_in)
                    weight.uniform_(-bound, bound)
                    bias.uniform_(-bound, bound)

    def forward(self, m, expert_index=None):
        return self.all_experts(m) if expert_index is None else self.own_expert(m, expert_index)

    def _run(self, hidden, weights, biases):
        last = len(weights) - 1
        for layer, (weight, bias) in enumerate(zip(weights, biases)):
            hidden = torch.baddbmm(bias.unsqueeze(-2), hidden, weight) if hidden.dim() == 3 else hidden @ weight + bias
            if layer < last:
                hidden = self.dropout(F.relu(hidden))
        return hidden.squeeze(-1)

    # Inference runs the experts on slices of the batch whose K x rows x width activations stay about
    # this many floats (8 MB), small enough to stay in cache; a 65536-row batch at K = 6 would
    # otherwise write 400 MB per layer.
    INFERENCE_CELLS = 2**21

    def all_experts(self, m):
        """Logits of every expert for every row: [batch, K]."""
        if torch.is_grad_enabled():  # training (NFMWA's single expert): one pass, gradients as always
            hidden = m.unsqueeze(0).expand(self.num_experts, -1, -1)
            return self._run(hidden, self.weights, self.biases).transpose(0, 1)
        widest = max(w.shape[-1] for w in self.weights)
        rows = max(64, self.INFERENCE_CELLS // (self.num_experts * widest))
        if len(m) == 0:
            return m.new_empty(0, self.num_experts)
        return torch.cat([self._all_experts_inference(part) for part in m.split(rows)])

    def _all_experts_inference(self, m):
        # All experts read the same m, so their first layers are one [rows, n_in] x [n_in, K*n_out]
        # product. The results equal the batched path's: bit for bit where we measured, and within
        # 1e-6 in tests/test_fast_paths.py, which must also pass on other CPUs' kernels.
        if len(self.weights) == 1:  # no hidden layer: a matrix-vector product per expert, nothing to fuse
            return self._run(m.unsqueeze(0).expand(self.num_experts, -1, -1), self.weights, self.biases).transpose(0, 1)
        num_experts, n_in, n_out = self.weights[0].shape
        first = torch.addmm(self.biases[0].reshape(-1), m, self.weights[0].transpose(0, 1).reshape(n_in, -1))
        hidden = self.dropout(F.relu(first.view(len(m), num_experts, n_out).transpose(0, 1)))
        return self._run(hidden, self.weights[1:], self.biases[1:]).transpose(0, 1)

    def own_expert(self, m, expert_index):
        """Logit of each row's own expert: [batch]; rows are grouped by expert, never looped over.

        Rows are sorted by expert once, so each expert reads one contiguous slice; the stacked weights
        are unbound once, so backward stacks the K gradients once (indexing ``weight[k]`` per expert
        would zero-fill and add a K-sized gradient K times).
        """
        order = torch.argsort(expert_index, stable=True)
        counts = torch.bincount(expert_index, minlength=self.num_experts).tolist()
        weights = list(zip(*(w.unbind(0) for w in self.weights)))
        biases = list(zip(*(b.unbind(0) for b in self.biases)))
        sorted_logits = torch.cat([
            self._run(rows, weights[expert], biases[expert])
            for expert, rows in enumerate(m[order].split(counts))
            if counts[expert]
        ])
        return sorted_logits.new_empty(len(order)).index_put((order,), sorted_logits)
