"""NFM-WA: NFM with the confounding feature as an input, i.e. the correlation P(Y|U,X,A).

Reference: Xiangnan He and Tat-Seng Chua, "Neural Factorization Machines for Sparse Predictive
Analytics", SIGIR 2017; baseline "NFM-WA" of He et al., "Addressing Confounding Feature Issue for
Causal Recommendation", TOIS 2022, sec. 5.1.2.
"""

from recbole_dcr.model.layers import ConfounderAwareRecommender, ExpertMLPs


class NFMWA(ConfounderAwareRecommender):
    """NFM on (U, X, A): one MLP (the paper's deep part) on the bi-interaction vector."""

    confounder_as_input = True

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        # A single "expert": the same MLP block as DCR-MoE's experts, so the comparison is like for like.
        self.mlp = ExpertMLPs(1, self.embedding_size, config["mlp_hidden_size"], config["dropout_prob"])
        self.apply(self._init_weights)

    def head(self, m):
        """NFM's deep part: the MLP's logit for matching vectors m."""
        return self.mlp.all_experts(m)[:, 0]

    def forward(self, interaction):
        return self.head(self.matching(interaction)) + self.first_order(interaction)
