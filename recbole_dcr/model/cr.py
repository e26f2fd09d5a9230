"""CR: counterfactual reasoning for the confounder, after the clickbait method with SUM-tanh fusion.

Reference: Wang et al., "Clicks can be Cheating: Counterfactual Recommendation for Mitigating
Clickbait Issue", SIGIR 2021; the CR baseline of He et al., TOIS 2022, sec. 5.1.2.
A main NFM branch scores (U, X); a side branch scores the confounder alone, s = MLP(e_a).  Training
fits σ(main + tanh(s)) plus α·BCE(σ(s)) so that the side branch absorbs A's direct effect;
inference keeps the main branch only, removing that effect from the ranking.
"""

import torch
from torch import nn

from recbole_dcr.model.layers import ExpertMLPs
from recbole_dcr.model.nfmwoa import NFMWOA


class CR(NFMWOA):
    """NFM-WOA main branch plus a confounder-only side branch used in training only."""

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.alpha = config["alpha"]
        self.confounder_embedding = nn.Embedding(self.num_confounder_values + 1, self.embedding_size)
        self.side = ExpertMLPs(1, self.embedding_size, config["side_mlp_hidden_size"], config["dropout_prob"])
        self.apply(self._init_weights)

    def side_logit(self, interaction):
        """s: the confounder-only branch's logit."""
        return self.side(self.confounder_embedding(interaction[self.CONFOUNDER].long()))[:, 0]

    def calculate_loss(self, interaction):
        label = interaction[self.LABEL]
        side = self.side_logit(interaction)
        fused = self.forward(interaction) + torch.tanh(side)
        return self.loss(fused, label) + self.alpha * self.loss(side, label)
