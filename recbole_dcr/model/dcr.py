"""DCR on any context-aware model: train it with the confounder as an input, rank by the backdoor adjustment.

Reference: He et al., "Addressing Confounding Feature Issue for Causal Recommendation", TOIS 2022,
sec. 3.2 (eq. 1, 4, 5): "We can implement the mapping function f(u, x, a) by any feature-aware
recommender model".  ``base_model`` names any RecBole context-aware model (FM, DeepFM, xDeepFM, ...)
or a plugin model; it is trained unchanged on (U, X, A).  ``inference`` chooses the ranking
(:mod:`recbole_dcr.model.adjustment`): ``do`` (exact, K passes of the base model per candidate),
``nwgm`` (one pass with the confounder's rows of RecBole's token tables averaged by P(a); refused
for models that embed fields elsewhere) or ``condition`` (the base model as trained).
"""

from recbole.model.abstract_recommender import AbstractRecommender
from recbole.utils import InputType, ModelType

from recbole_dcr import registry
from recbole_dcr.compat import offsets_on_device
from recbole_dcr.model.adjustment import INFERENCES, BackdoorAdjusted, check_inference, check_nwgm_possible
from recbole_dcr.model.layers import ConfounderPlumbing, _DatasetWithoutFields


class DCR(BackdoorAdjusted, ConfounderPlumbing, AbstractRecommender):
    """Wraps ``base_model`` (trained on U, X, A) with backdoor-adjusted inference."""

    type = ModelType.CONTEXT
    input_type = InputType.POINTWISE
    base_model_key = "base_model"  # Config also loads the yaml defaults of the model this key names

    def __init__(self, config, dataset):
        super().__init__()
        self.inference = check_inference(config["inference"], INFERENCES, type(self).__name__)
        # several confounders enter the base model as their joint field only
        base_class = registry.get_model(config["base_model"])
        self.base = offsets_on_device(base_class(config, _DatasetWithoutFields(dataset, dataset.confounder_parts)))
        self._init_confounder(config, dataset)
        if self.inference == "nwgm":
            check_nwgm_possible(self.base, self.CONFOUNDER)

    def calculate_loss(self, interaction):
        return self.base.calculate_loss(interaction)

    def conditional_scores(self, interaction):
        """The base model's f(u, x, a) per row with the observed a (some RecBole models return [batch, 1])."""
        if isinstance(self.base, BackdoorAdjusted):  # a plugin base ranks by its own inference key
            return self.base.conditional_scores(interaction)
        return self.base.predict(interaction).reshape(-1)

    def predict(self, interaction):
        return self.adjusted_scores(interaction)
