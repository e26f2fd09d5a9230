"""CR: counterfactual reasoning for the confounder, after the clickbait method with SUM-tanh fusion.

Reference: Wang et al., "Clicks can be Cheating: Counterfactual Recommendation for Mitigating
Clickbait Issue", SIGIR 2021; the CR baseline of He et al., TOIS 2022, sec. 5.1.2, built as the DCR
authors built it: the main branch is NFM with A among its inputs; a side branch maps A's own
embedding (the same row the main branch reads) through an MLP of the experts' sizes to a logit s.
Training fits σ(main + tanh(s)) plus α·BCE(σ(s)), so that the side branch absorbs A's direct
effect; inference ranks by the main branch alone.
"""

import torch

from recbole_dcr.model.experts import ExpertMLPs
from recbole_dcr.model.nfmwa import NFMWA


class CR(NFMWA):
    """NFM-WA main branch plus a side branch on the confounder's embedding, used in training only."""

    adjustable = False  # ranks by the main branch

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.alpha = config["alpha"]
        self.side = ExpertMLPs(1, self.embedding_size, config["side_mlp_hidden_size"], config["dropout_prob"],
                               self.mlp_init)
        self.apply(self._init_weights)

    def branch_logits(self, interaction):
        """(main logit, side logit s), both from one embedding lookup."""
        embeddings = self.concat_embed_input_fields(interaction)
        h, added = self.expert_input(interaction, embeddings)
        confounder = embeddings[:, self.confounder_slot()]
        return self.head(h) + added, self.side(confounder)[:, 0]

    def side_logit(self, interaction):
        return self.branch_logits(interaction)[1]

    def calculate_loss(self, interaction):
        label = interaction[self.LABEL]
        main, side = self.branch_logits(interaction)
        return self.loss(main + torch.tanh(side), label) + self.alpha * self.loss(side, label)
