"""NWGM-DCR (the paper's DCR-NFM-A): backdoor adjustment approximated by one forward pass.

Reference: He et al., "Addressing Confounding Feature Issue for Causal Recommendation", TOIS 2022,
eq. (5): P(y=1|u, do(x)) ≈ f(u, x, Σ_a a·P(a)).  Trained exactly as NFM-WA; at inference the
confounder's embedding and its first-order weight are replaced by their P(a)-weighted averages.
"""

import torch

from recbole_dcr.model.nfmwa import NFMWA


class NWGMDCR(NFMWA):
    """NFM-WA whose inference feeds the P(a)-averaged confounder instead of the observed one."""

    def predict(self, interaction):
        embeddings = self.concat_embed_input_fields(interaction)
        slot = self.token_field_names.index(self.CONFOUNDER)
        average = self.prior_average(self.token_embedding_table, self.token_field_names)
        embeddings = torch.cat(
            [embeddings[:, :slot], average.expand(len(embeddings), 1, -1), embeddings[:, slot + 1 :]], dim=1
        )
        linear = self.first_order_linear
        observed_weight = self.confounder_rows(
            linear.token_embedding_table, linear.token_field_names, self.confounder_index(interaction)
        ).squeeze(-1)
        average_weight = self.prior_average(linear.token_embedding_table, linear.token_field_names)
        first_order = self.first_order(interaction) - observed_weight + average_weight
        return torch.sigmoid(self.head(self.matching(interaction, embeddings)) + first_order)
