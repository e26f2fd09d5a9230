"""FairGo: adversarial removal of the confounder's information from NFM's representation.

Reference: Wu et al., "Learning Fair Representations for Recommendation: A Graph-based
Perspective", WWW 2021; the FairGo baseline of He et al., TOIS 2022, sec. 5.1.2, with the
confounder as the sensitive feature, built as the DCR authors built it: the recommender is NFM-WA
(A among its inputs), trained first on its own (or loaded from ``pretrained_checkpoint``); then a
filter maps what NFM's MLP reads ([first-order logit, m]) to a filtered representation, and a
discriminator predicts A from it.  :class:`~recbole_dcr.trainer.FairGoTrainer` alternates the
discriminator (cross-entropy on A) and the filter + MLP (BCE − λ·cross-entropy, with the BCE summed
as in eq. 3, so the paper's λ grid means what it meant), with the embeddings frozen.
"""

import torch.nn.functional as F
from torch import nn

from recbole_dcr.model.nfmwa import NFMWA
from recbole_dcr.model.pretrained import load_pretrained_backbone


def _leaky_mlp(sizes):
    """Linear layers of ``sizes`` with LeakyReLU(0.2) between them."""
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.LeakyReLU(0.2)]
    return nn.Sequential(*layers[:-1])


class FairGo(NFMWA):
    """NFM-WA with an adversarially trained filter in front of its MLP."""

    adjustable = False  # ranks by the filtered representation with the observed a

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.adversary_weight = config["adversary_weight"]
        size, k = self.mlp_input_size(self.embedding_size), self.num_confounder_values
        self.filter = _leaky_mlp([size, 2 * size, size, size])
        self.discriminator = _leaky_mlp([size, config["discriminator_hidden_size"], k, k, k])
        self.filtering = True  # False while the recommender is pretrained on its own (plain NFM-WA)
        self.apply(self._init_weights)
        self.pretrained = bool(config["pretrained_checkpoint"])
        if self.pretrained:
            load_pretrained_backbone(self, config["pretrained_checkpoint"], dataset)

    def representation(self, interaction):
        """(what the MLP reads, what is added to its logit): the filtered [first order, m] once filtering."""
        h, added = self.expert_input(interaction)
        return (self.filter(h) if self.filtering else h), added

    def forward(self, interaction):
        h, added = self.representation(interaction)
        return self.head(h) + added

    def discriminator_loss(self, interaction, detach=True):
        """Mean cross-entropy of the discriminator predicting the row's confounder value."""
        h, _ = self.representation(interaction)
        return F.cross_entropy(self.discriminator(h.detach() if detach else h), self.confounder_index(interaction))

    def calculate_loss(self, interaction):
        h, added = self.representation(interaction)
        fit = self.loss(self.head(h) + added, interaction[self.LABEL])
        if not self.filtering:
            return fit
        fool = F.cross_entropy(self.discriminator(h), self.confounder_index(interaction))
        return fit - self.adversary_weight * fool

    def adversarial_parameters(self):
        """What the adversarial stage trains besides the discriminator: the filter and NFM's MLP."""
        return list(self.filter.parameters()) + list(self.mlp.parameters())

    def discriminator_parameters(self):
        return list(self.discriminator.parameters())
