"""DCR on any context-aware model: train it with the confounder as an input, rank by the backdoor adjustment.

Reference: He et al., "Addressing Confounding Feature Issue for Causal Recommendation", TOIS 2022,
sec. 3.2 (eq. 1, 4, 5): "We can implement the mapping function f(u, x, a) by any feature-aware
recommender model".  ``base_model`` names any RecBole context-aware model (FM, DeepFM, xDeepFM, ...)
or a plugin model; it is trained unchanged on (U, X, A).  ``dcr_inference`` chooses the ranking:

* ``enumerate`` — exact: Σ_a P(a)·f(u, x, a), K full passes of the base model per candidate;
* ``nwgm`` — approximate (eq. 5): one pass with the confounder's rows of RecBole's shared token tables
  (embedding and first-order weight) replaced by their P(a)-weighted averages;
* ``condition`` — the base model as trained, f(u, x, a) with the observed a.
"""

from contextlib import contextmanager

import torch
from recbole.model.abstract_recommender import AbstractRecommender
from recbole.utils import InputType, ModelType
from torch import nn

from recbole_dcr.model.layers import ConfounderPlumbing, _DatasetWithoutFields

INFERENCES = ("enumerate", "nwgm", "condition")


class DCR(ConfounderPlumbing, AbstractRecommender):
    """Wraps ``base_model`` (trained on U, X, A) with backdoor-adjusted inference."""

    type = ModelType.CONTEXT
    input_type = InputType.POINTWISE
    base_model_key = "base_model"  # Config also loads the yaml defaults of the model this key names

    def __init__(self, config, dataset):
        from recbole_dcr.utils import get_model  # the wrapper resolves names like the CLI does

        super().__init__()
        self.inference = config["dcr_inference"]
        if self.inference not in INFERENCES:
            raise ValueError(f"dcr_inference must be one of {INFERENCES}, got {self.inference!r}")
        # several confounders enter the base model as their joint field only
        self.base = get_model(config["base_model"])(config, _DatasetWithoutFields(dataset, dataset.confounder_parts))
        self._init_confounder(config, dataset)
        if self.inference == "nwgm":
            self._check_nwgm_possible()

    def _shared_tables(self):
        """(FMEmbedding, its field names) of RecBole's token tables that embed the confounder."""
        tables = []
        for owner in (self.base, getattr(self.base, "first_order_linear", None)):
            table = getattr(owner, "token_embedding_table", None)
            if table is not None and self.CONFOUNDER in owner.token_field_names:
                tables.append((table, owner.token_field_names))
        return tables

    def _check_nwgm_possible(self):
        shared = {id(table.embedding) for table, _ in self._shared_tables()}
        seq_tables = {id(m) for name, m in self.base.named_modules() if "seq_embedding_table" in name}
        other = [
            name for name, m in self.base.named_modules()
            if isinstance(m, nn.Embedding) and id(m) not in shared and id(m) not in seq_tables
        ]
        if not shared or other:
            raise ValueError(
                f"dcr_inference=nwgm averages the confounder's rows in RecBole's shared token tables; "
                f"{type(self.base).__name__} also embeds fields in {other or 'no shared table'}. "
                f"Use dcr_inference=enumerate (exact) for this base model."
            )

    @contextmanager
    def _averaged_confounder(self):
        """Every confounder value temporarily carries the P(a)-weighted average row (eq. 5)."""
        saved = []
        with torch.no_grad():
            for table, names in self._shared_tables():
                rows = int(table.offsets[names.index(self.CONFOUNDER)]) + 1 + torch.arange(self.num_confounder_values)
                weight = table.embedding.weight
                saved.append((weight, rows, weight[rows].clone()))
                weight[rows] = self.confounder_prior @ weight[rows]
        try:
            yield
        finally:
            with torch.no_grad():
                for weight, rows, original in saved:
                    weight[rows] = original

    def calculate_loss(self, interaction):
        return self.base.calculate_loss(interaction)

    def base_scores(self, interaction):
        """The base model's f(u, x, a) per row (some RecBole models return [batch, 1])."""
        return self.base.predict(interaction).reshape(-1)

    def predict(self, interaction):
        if self.inference == "condition":
            return self.base_scores(interaction)
        if self.inference == "enumerate":
            return self.enumerate_confounder(interaction, self.base_scores) @ self.confounder_prior
        with self._averaged_confounder():
            return self.base_scores(interaction)
