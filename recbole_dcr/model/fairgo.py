"""FairGo: adversarial removal of the confounder's information from NFM's representation.

Reference: Wu et al., "Learning Fair Representations for Recommendation: A Graph-based
Perspective", WWW 2021; the FairGo baseline of He et al., TOIS 2022, sec. 5.1.2, with the
confounder as the sensitive feature.  A filter maps NFM-WOA's matching vector m to m'; a
discriminator predicts A from m'.  :class:`~recbole_dcr.trainer.FairGoTrainer` alternates a
discriminator step (cross-entropy on A) and a filter+recommender step on BCE − λ·cross-entropy,
so m' keeps what predicts the label and loses what predicts A.
"""

import torch.nn.functional as F
from torch import nn

from recbole_dcr.model.pretrained import load_pretrained_backbone
from recbole_dcr.model.nfmwoa import NFMWOA


class FairGo(NFMWOA):
    """NFM-WOA with an adversarially trained filter on the matching representation."""

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.adversary_weight = config["adversary_weight"]
        size, hidden = self.embedding_size, config["discriminator_hidden_size"]
        self.filter = nn.Sequential(nn.Linear(size, size), nn.LeakyReLU(), nn.Linear(size, size))
        self.discriminator = nn.Sequential(
            nn.Linear(size, hidden), nn.LeakyReLU(), nn.Linear(hidden, self.num_confounder_values)
        )
        self.apply(self._init_weights)
        if config["pretrained_checkpoint"]:
            load_pretrained_backbone(self, config["pretrained_checkpoint"], dataset)

    def representation(self, interaction):
        """m' = filter(m): what the recommender head and the discriminator see."""
        return self.filter(self.matching(interaction))

    def forward(self, interaction):
        return self.head(self.representation(interaction)) + self.first_order(interaction)

    def discriminator_loss(self, interaction, detach=True):
        """Cross-entropy of the discriminator predicting the row's confounder value from m'."""
        representation = self.representation(interaction)
        if detach:
            representation = representation.detach()
        return F.cross_entropy(self.discriminator(representation), self.confounder_index(interaction))

    def calculate_loss(self, interaction):
        representation = self.representation(interaction)
        fit = self.loss(self.head(representation) + self.first_order(interaction), interaction[self.LABEL])
        fool = F.cross_entropy(self.discriminator(representation), self.confounder_index(interaction))
        return fit - self.adversary_weight * fool

    def discriminator_parameters(self):
        return list(self.discriminator.parameters())
