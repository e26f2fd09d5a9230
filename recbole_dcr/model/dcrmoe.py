"""DCR-MoE: Deconfounding Causal Recommendation with a mixture of experts.

Reference: Xiangnan He, Yang Zhang, Fuli Feng, Chonggang Song, Lingling Yi, Guohui Ling and
Yongdong Zhang, "Addressing Confounding Feature Issue for Causal Recommendation", ACM TOIS 2022,
sec. 3.3 and Algorithm 1.

A shared backbone turns (U, X) into the matching vector m (in the paper never reading A; here by
default with the item's own A as content, below); expert a maps m to f(u, x, a).  ``expert_sharing`` says how much the experts share (:mod:`recbole_dcr.model.experts`):
``separate`` is the paper's K independent MLPs.  ``backbone`` is NFM (the paper's embedding + bi-interaction layers) or any RecBole model
with an adapter in :mod:`recbole_dcr.model.backbones` (FM, DeepFM, WideDeep, DCN, DCNV2, xDeepFM,
AutoInt).  Training fits each row with the expert of its own a (eq. 3).  Inference:

* ``inference: do`` (default) — backdoor adjustment P(y=1|u, do(x)) = Σ_a P(a)·f(u, x, a) (eq. 4),
  all K experts in one batched pass (:mod:`recbole_dcr.model.adjustment`);
* ``inference: condition`` — the row's own expert, f(u, x, a): the paper's "MoE" ablation (Table 3);
* ``inference: supported`` or ``shrunk`` — the adjustment restricted to, or shrunk toward, the values of
  A the item's content occurs with in training (:mod:`recbole_dcr.model.adjustment`; issue #16).

``confounder_as_content: True`` (the default; issue #22) tells apart the two roles of A. The item's
own value a_x is a fact about its content (A sets X, X sets A, or both share a hidden cause), so the
backbone reads it as any item field and m = f_Θ(u, x, a_x) keeps what a_x says about the user's taste.
The intervened value a enters only through the experts and a side logit s_a per value, fit to the
training label on its own (weight ``side_alpha``, as CR's side branch), which takes A's direct effect:
the training logit is expert_a(m) + first order + tanh(s_a). The ranking is still the exact
Σ_a P(a)·f(u, x, a), over a with x (and a_x) held fixed; ``confounder_content_inference: do`` sets a_x
to a as well (K backbone passes; for data where every content occurs with every a).
"""

from logging import getLogger

import torch
from torch import nn

from recbole_dcr.compat import offsets_on_device
from recbole_dcr.model.adjustment import (CONTENT_AWARE, backdoor_sum, check_inference, confounder_tables,
                                         content_aware_weights, enumerate_confounder, value_rows)
from recbole_dcr.model.backbones import make_backbone
from recbole_dcr.model.experts import ExpertMLPs, make_experts
from recbole_dcr.model.layers import ConfounderAwareRecommender, _DatasetWithoutFields
from recbole_dcr.overlap import confounder_given_content

SIDE_ACTIVATIONS = ("tanh", "identity")
SIDE_INPUTS = ("bias", "embedding")
CONTENT_FORMS = ("deep", "additive")
CONTENT_INFERENCES = ("item", "do")


def _choice(config, key, choices):
    """``config[key]``, ``choices[0]`` (the default) where unset; one error naming the choices otherwise."""
    value = config[key] or choices[0]
    if value not in choices:
        raise ValueError(f"{key} must be one of {', '.join(choices)}, got {value!r}")
    return value


class DCRMoE(ConfounderAwareRecommender):
    """A backbone over (U, X) (NFM by default) with one MLP expert per confounder value."""

    confounder_as_input = False
    base_model_key = "backbone"  # Config also loads the backbone's RecBole yaml (cross layers, CIN sizes, ...)
    builtin_bases = ("NFM",)  # ... except for the built-in NFM layers, which read only this model's keys

    def __init__(self, config, dataset):
        # read before the backbone is built: with it, the item's own value of A is one of its fields
        self.confounder_as_input = bool(config["confounder_as_content"])
        super().__init__(config, dataset)
        self.inference = check_inference(config["inference"], ("do", "condition", *CONTENT_AWARE),
                                         type(self).__name__)
        self.item_field, self.support_epsilon = config["ITEM_ID_FIELD"], config["support_epsilon"]
        # P(a | the item's content) from the training rows, for the content-aware adjustments
        given = torch.as_tensor(confounder_given_content(dataset), dtype=torch.float32)
        self.register_buffer("confounder_given_content", given)
        self.backbone = None  # NFM: the built-in embedding + bi-interaction layers
        if config["backbone"] != "NFM":
            hidden = [*dataset.confounder_parts] + ([] if self.confounder_as_input else [self.CONFOUNDER])
            self.backbone = make_backbone(config["backbone"], config, _DatasetWithoutFields(dataset, hidden))
            self.backbone.share_feature_tables(self)
            offsets_on_device(self.backbone)
        matching_size = self.mlp_input_size(self.embedding_size if self.backbone is None else self.backbone.output_size)
        sharing = config["expert_sharing"]
        self.factored = bool(dataset.confounder_parts) and config["confounder_experts"] == "factored"
        if sharing == "embedded" and (self.backbone is not None or self.factored):
            raise ValueError("expert_sharing: embedded puts A into the NFM backbone's bi-interaction: it needs "
                             "backbone: NFM and confounder_experts: joint; choose another expert_sharing")
        if self.confounder_as_input and sharing == "embedded":
            raise ValueError("expert_sharing: embedded already puts the intervened A into the backbone, where "
                             "confounder_as_content puts the item's own A: set confounder_as_content: False with it")
        if self.factored:
            # one expert set per confounder; f(u,x,a1,a2) = σ(e1_a1(m) + e2_a2(m) + first order)
            self.register_buffer("part_index", dataset.confounder_part_index())
            self.part_experts = nn.ModuleList(
                make_experts(sharing, dataset.num(part) - 1, matching_size, config)
                for part in dataset.confounder_parts
            )
        else:
            self.experts = make_experts(sharing, self.num_confounder_values, matching_size, config)
        self.needs_field_sum = not self.factored and getattr(self.experts, "needs_field_sum", False)
        self.side_alpha = float(config["side_alpha"] or 0.0)
        self.side_activation = _choice(config, "side_activation", SIDE_ACTIVATIONS)
        # the item's own A with a first-order weight of its own: a per-value bias there survives the sum
        self.own_first_order = config["confounder_first_order"] is not False
        # the item's own A left out of the backbone for this share of training rows: the backbone
        # also learns without it, so less of A's effect on the training label rides on a_x (which the
        # sum holds fixed) and more on the intervened value (which it averages out)
        self.content_dropout = float(config["confounder_content_dropout"] or 0.0)
        self._content_kept = None  # per training batch: 1 where a row's backbone reads its own A, else 0
        if not 0.0 <= self.content_dropout < 1.0:
            raise ValueError(f"confounder_content_dropout must be in [0, 1), got {self.content_dropout}")
        if not self.confounder_as_input:
            self.content_dropout = 0.0  # the backbone never reads A: nothing to leave out (the paper's preset)
        elif self.content_dropout and self.backbone is not None:
            getLogger().warning(f"confounder_content_dropout leaves the item's own A out of the built-in NFM "
                                f"backbone only; backbone {config['backbone']} reads it in every training row")
            self.content_dropout = 0.0
        # how the item's own A reaches the logit: ``deep`` — one more field of the bi-interaction, whose pooled
        # vector the experts' MLPs read; ``additive`` — its pairwise products with the other fields, through one
        # linear map beside the experts, so no MLP can make the match's weight depend on it (that dependence is
        # A's effect, which the sum averages out only where the experts, over the intervened A, carry it)
        form = _choice(config, "confounder_content_form", CONTENT_FORMS)
        self.additive_content = self.confounder_as_input and form == "additive"
        if self.additive_content and self.backbone is not None:
            getLogger().warning(f"confounder_content_form: additive applies to the built-in NFM backbone only; "
                                f"backbone {config['backbone']} reads the item's own A as its layers do")
            self.additive_content = False
        # at inference, what the backbone reads as the item's own A: ``item`` — its observed a_x, held fixed
        # while the experts take every a; ``do`` — the intervened a too, so f(u, x, a) is scored with A = a
        # everywhere, as every training row is (one backbone pass per value of A)
        content_inference = _choice(config, "confounder_content_inference", CONTENT_INFERENCES)
        self.enumerate_content = self.confounder_as_input and content_inference == "do"
        if self.additive_content:
            self.content_pairs = nn.Linear(self.embedding_size, 1, bias=False)
        side_input = _choice(config, "side_input", SIDE_INPUTS)
        self.side_mlp = None
        if self.confounder_as_input and side_input == "embedding":
            # CR's side branch: s_a from A's embedding row, the one the backbone reads as the item's content,
            # so that the side logit's own loss also shapes what the backbone reads
            self.side_mlp = ExpertMLPs(1, self.embedding_size, config["side_hidden_size"] or [256, 128],
                                       config["dropout_prob"], self.mlp_init)
        elif self.confounder_as_input:
            self.side = nn.Module()  # s_a, named ``side.bias``: no L2, as every bias
            self.side.bias = nn.Parameter(torch.zeros(self.num_confounder_values))
        # an extra loss term (expert_pull, residual_weight_decay) is a sum over weights, like L2: with
        # several processes each adds it, so each adds its share
        self.penalty_share = 1.0 / max(1, int(config["world_size"] or 1)) if not config["single_spec"] else 1.0
        self.apply(self._init_weights)

    def matching(self, interaction, embeddings=None):
        if self.backbone is not None:
            return self.backbone(interaction)
        if self._content_kept is None:
            return super().matching(interaction, embeddings)
        if embeddings is None:
            embeddings = self.concat_embed_input_fields(interaction)
        return super().matching(interaction, self._scaled_own_a(embeddings, self._content_kept))

    def _scaled_own_a(self, embeddings, scale):
        """The field embeddings with the item's own A's row times ``scale`` (one number, or one per row)."""
        keep = torch.ones_like(embeddings[..., :1])
        keep[:, self.confounder_slot(), 0] = scale
        return embeddings * keep

    def expert_input(self, interaction, embeddings=None):
        if not self.additive_content:
            return super().expert_input(interaction, embeddings)
        if embeddings is None:
            embeddings = self.concat_embed_input_fields(interaction)
        own = embeddings[:, self.confounder_slot()]
        if self._content_kept is not None:
            own = own * self._content_kept[:, None]
        others = self._scaled_own_a(embeddings, 0.0)  # the bi-interaction of (U, X) alone: what the MLPs read
        h, added = super().expert_input(interaction, others)
        # Σ_j e_a ⊙ e_j over the other fields: the part of the full bi-interaction that involves the item's own A
        return h, added + self.content_pairs(own * others.sum(dim=1)).squeeze(-1)

    def _with_content_dropout(self, interaction, compute):
        """``compute()`` with the item's own A left out of the backbone for a random share of rows (training)."""
        if not (self.content_dropout and self.training):
            return compute()
        rows = len(interaction[self.CONFOUNDER])
        self._content_kept = (torch.rand(rows, device=self.confounder_prior.device) >= self.content_dropout).float()
        try:
            return compute()
        finally:
            self._content_kept = None

    def value_input(self, interaction):
        """(what the experts read, what is added to their logit, the expert block's other inputs): for
        ``embedded`` experts, the sum s of the backbone's field embeddings."""
        if not self.needs_field_sum:
            return (*self.expert_input(interaction), {})
        embeddings = self.concat_embed_input_fields(interaction)
        return (*self.expert_input(interaction, embeddings), {"field_sum": embeddings.sum(dim=1)})

    def forward(self, interaction):
        """Logit of f(u, x, a) with each row's observed a."""
        return self._with_content_dropout(interaction, lambda: self._forward(interaction))

    def _forward(self, interaction):
        h, added, context = self.value_input(interaction)
        if self.factored:
            parts = self.part_index[self.confounder_index(interaction)]
            expert_logit = sum(e(h, parts[:, i]) for i, e in enumerate(self.part_experts))
        else:
            expert_logit = self.experts(h, self.confounder_index(interaction), **context)
        if self.confounder_as_input:
            expert_logit = expert_logit + self.side_logit()[self.confounder_index(interaction)]
        return expert_logit + added

    def expert_logits(self, h, **context):
        """Expert logit of every (joint) confounder value: [batch, K]."""
        if self.factored:
            logits = sum(e(h)[:, self.part_index[:, i]] for i, e in enumerate(self.part_experts))
        else:
            logits = self.experts(h, **context)
        return logits + self.side_logit() if self.confounder_as_input else logits

    def side_values(self):
        """s_a for every value of A, [K]: a free number each (``side_input: bias``) or an MLP of A's row."""
        if self.side_mlp is None:
            return self.side.bias
        table = self.token_embedding_table
        rows = value_rows(table, self.token_field_names.index(self.CONFOUNDER), self.num_confounder_values,
                          self.confounder_prior.device)
        return self.side_mlp(table.embedding(rows))[:, 0]

    def side_logit(self):
        """What the side logit adds for each value of A: tanh(s_a) (CR's bounded branch) or s_a, [K]."""
        values = self.side_values()
        return torch.tanh(values) if self.side_activation == "tanh" else values

    def first_order(self, interaction):
        linear = super().first_order(interaction)
        if not self.confounder_as_input or (self.own_first_order and self._content_kept is None):
            return linear
        # without the item's own A: its weight would be a per-value bias that the sum keeps, the side
        # logit's twin; subtracting the row looked up leaves it no gradient (L2 keeps it at 0)
        table, slot = confounder_tables(self.first_order_linear, self.CONFOUNDER)[0]
        rows = interaction[self.CONFOUNDER].long() + int(table.offsets[slot])
        dropped = 1.0 if not self.own_first_order else 1.0 - self._content_kept
        return linear - dropped * table.embedding(rows).squeeze(-1)

    def expert_probabilities(self, interaction):
        """f(u, x, a) for every a: [batch, K]."""
        if self.enumerate_content:  # the item's own A set to a as well: one full pass per value
            return enumerate_confounder(interaction, self.CONFOUNDER, self.num_confounder_values,
                                        lambda forced: torch.sigmoid(self.forward(forced)))
        h, added, context = self.value_input(interaction)
        return torch.sigmoid(self.expert_logits(h, **context) + added.unsqueeze(-1))

    def calculate_loss(self, interaction):
        loss = super().calculate_loss(interaction)
        if self.confounder_as_input and self.side_alpha:
            side = self.side_values()[self.confounder_index(interaction)]
            loss = loss + self.side_alpha * self.loss(side, interaction[self.LABEL])
        blocks = self.part_experts if self.factored else [self.experts]
        penalties = [p for p in (block.penalty() for block in blocks) if p is not None]
        return loss + self.penalty_share * sum(penalties) if penalties else loss

    def predict(self, interaction):
        if self.inference == "condition":
            return torch.sigmoid(self.forward(interaction))
        probabilities = self.expert_probabilities(interaction)
        if self.inference == "do":
            return backdoor_sum(probabilities, self.confounder_prior)
        given = self.confounder_given_content[interaction[self.item_field].long()]
        weights = content_aware_weights(self.inference, self.confounder_prior, given, self.support_epsilon)
        return (probabilities * weights).sum(dim=1)
