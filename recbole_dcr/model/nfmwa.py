"""NFM-WA: NFM with the confounding feature as an input, i.e. the correlation P(Y|U,X,A).

Reference: Xiangnan He and Tat-Seng Chua, "Neural Factorization Machines for Sparse Predictive
Analytics", SIGIR 2017; baseline "NFM-WA" of He et al., "Addressing Confounding Feature Issue for
Causal Recommendation", TOIS 2022, sec. 5.1.2.  With ``inference: do`` or ``nwgm`` the same trained
model ranks by the backdoor adjustment (the presets DCRNFM and NWGMDCR).
"""

import torch

from recbole_dcr.model.adjustment import BackdoorAdjusted, check_inference
from recbole_dcr.model.experts import ExpertMLPs
from recbole_dcr.model.layers import ConfounderAwareRecommender


class NFMWA(BackdoorAdjusted, ConfounderAwareRecommender):
    """NFM on (U, X, A): one MLP (the paper's deep part) on the bi-interaction vector."""

    confounder_as_input = True
    adjustable = True  # ranks by f(u, x, a) averaged over a when asked; models that rank otherwise say False

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        allowed = ("do", "nwgm", "condition") if self.confounder_as_input and self.adjustable else ("condition",)
        self.inference = check_inference(config["inference"], allowed, type(self).__name__)
        # A single "expert": the same MLP block as DCR-MoE's experts, so the comparison is like for like.
        self.mlp = ExpertMLPs(1, self.mlp_input_size(self.embedding_size), config["mlp_hidden_size"],
                              config["dropout_prob"])
        self.apply(self._init_weights)

    def head(self, h):
        """NFM's deep part: the MLP's logit for what it reads (m, or [first order, m])."""
        return self.mlp(h)[:, 0]

    def forward(self, interaction):
        h, added = self.expert_input(interaction)
        return self.head(h) + added

    def conditional_scores(self, interaction):
        """f(u, x, a) with each row's observed a."""
        return torch.sigmoid(self.forward(interaction))

    def predict(self, interaction):
        return self.adjusted_scores(interaction)
