"""IPW: NFM without the confounder, trained with inverse-propensity-weighted BCE.

Reference: Schnabel et al., "Recommendations as Treatments", ICML 2016; the IPW baseline of
He et al., "Addressing Confounding Feature Issue for Causal Recommendation", TOIS 2022, sec. 5.1.2.
The interaction probability is taken as P(Y=1|A)·P(R=1|U,I), so a positive row with value a weighs
1/√(P(Y=1|a) / max_a' P(Y=1|a')) and a negative row 1/√((1−P(Y=1|a)) / max_a' (1−P(Y=1|a'))).
The propensities come from the training split only (the model is built on it); the DCR authors'
code computes them from the training, validation and test rows together, which lets the test labels
shape the training weights, so the plugin keeps its own.
"""

import torch
from torch import nn

from recbole_dcr.model.nfmwoa import NFMWOA


def inverse_propensity_weights(rate):
    """(positive weights, negative weights) per confounder value from P(Y=1|a); 0 where a class is absent."""

    def weights(propensity):
        relative = propensity / propensity.max()
        return torch.where(relative > 0, relative.clamp(min=1e-12).rsqrt(), torch.zeros_like(relative))

    return weights(rate), weights(1.0 - rate)


class IPW(NFMWOA):
    """NFM-WOA whose BCE weighs each row by its confounder value's inverse propensity."""

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        positive, negative = inverse_propensity_weights(dataset.label_rate_by_confounder().float())
        self.register_buffer("positive_weight", positive)
        self.register_buffer("negative_weight", negative)
        self.row_loss = nn.BCEWithLogitsLoss(reduction="none")

    def sample_weights(self, interaction):
        label, index = interaction[self.LABEL], self.confounder_index(interaction)
        return label * self.positive_weight[index] + (1 - label) * self.negative_weight[index]

    def calculate_loss(self, interaction):
        weighted = self.sample_weights(interaction) * self.row_loss(self.forward(interaction), interaction[self.LABEL])
        return weighted.sum() if self.loss_reduction == "sum" else weighted.mean()
