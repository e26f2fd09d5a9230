"""Backbones of DCR-MoE: RecBole context models that turn (U, X) into the matching representation m.

Each adapter builds the RecBole model itself on the dataset *without* the confounder, keeps its
interaction layers, drops its output layer, and says which internal vector is m — the last
representation before the model's own prediction layer, which the K experts replace.  Field
embeddings and the first-order (wide) term are the host model's (shared with the model, not copied),
and the first-order term is shared by all experts.  NFM, the paper's backbone, is built into
:class:`~recbole_dcr.model.layers.ConfounderAwareRecommender` and needs no adapter.  A new backbone is a subclass with
``recbole_model``, ``prediction_layers`` (modules to drop), ``output_size`` and ``forward``.
"""

from logging import getLogger

import torch
from recbole.model.layers import BaseFactorizationMachine
from torch import nn

from recbole_dcr import registry


FEATURE_TABLES = (
    "token_embedding_table", "float_embedding_table", "token_seq_embedding_table", "float_seq_embedding_table",
    "first_order_linear",
)


def _drop_output_layer(mlp):
    """Cut a RecBole ``MLPLayers`` before its last Linear layer (and that layer's dropout and activation)."""
    layers = list(mlp.mlp_layers)
    last_linear = max(i for i, layer in enumerate(layers) if isinstance(layer, nn.Linear))
    if last_linear > 0 and isinstance(layers[last_linear - 1], nn.Dropout):
        last_linear -= 1
    mlp.mlp_layers = nn.Sequential(*layers[:last_linear])


class MatchingBackbone(nn.Module):
    """m = f_Θ(u, x) computed with a RecBole context model's own embeddings and layers."""

    recbole_model = None
    prediction_layers = ()

    def __init__(self, config, dataset):
        super().__init__()
        self.net = registry.get_model(self.recbole_model)(config, dataset)
        for name in self.prediction_layers:
            delattr(self.net, name)  # the experts predict instead
        self.embedding_size = config["embedding_size"]
        self.mlp_hidden_size = config["mlp_hidden_size"]

    def share_feature_tables(self, host):
        """Use the host model's field embeddings and first-order term instead of building a second copy."""
        for name in FEATURE_TABLES:
            if hasattr(host, name):
                setattr(self.net, name, getattr(host, name))

    def embeddings(self, interaction):
        return self.net.concat_embed_input_fields(interaction)

    def flat_embeddings(self, interaction):
        embeddings = self.embeddings(interaction)
        return embeddings.view(embeddings.shape[0], -1)

    def first_order(self, interaction):
        """The model's linear (wide) term over (U, X): [batch]."""
        return self.net.first_order_linear(interaction).squeeze(-1)

    @property
    def output_size(self):
        raise NotImplementedError


class FMBackbone(MatchingBackbone):
    """FM: m is the pairwise-interaction vector 0.5((Σe)² − Σe²) before FM sums it."""

    recbole_model = "FM"
    prediction_layers = ("fm",)

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.pooling = BaseFactorizationMachine(reduce_sum=False)

    @property
    def output_size(self):
        return self.embedding_size

    def forward(self, interaction):
        return self.pooling(self.embeddings(interaction))


class DeepFMBackbone(MatchingBackbone):
    """DeepFM: m = [FM interaction vector, last hidden layer of the deep part]."""

    recbole_model = "DeepFM"
    prediction_layers = ("fm", "deep_predict_layer")

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.pooling = BaseFactorizationMachine(reduce_sum=False)

    @property
    def output_size(self):
        return self.embedding_size + self.mlp_hidden_size[-1]

    def forward(self, interaction):
        embeddings = self.embeddings(interaction)
        deep = self.net.mlp_layers(embeddings.view(embeddings.shape[0], -1))
        return torch.cat([self.pooling(embeddings), deep], dim=-1)


class WideDeepBackbone(MatchingBackbone):
    """Wide&Deep: m is the deep part's last hidden layer; the wide part is the shared first-order term."""

    recbole_model = "WideDeep"
    prediction_layers = ("deep_predict_layer",)

    @property
    def output_size(self):
        return self.mlp_hidden_size[-1]

    def forward(self, interaction):
        return self.net.mlp_layers(self.flat_embeddings(interaction))


class DCNBackbone(MatchingBackbone):
    """DCN: m = [cross network output, deep network output], the vector DCN's prediction layer reads."""

    recbole_model = "DCN"
    prediction_layers = ("predict_layer",)

    @property
    def output_size(self):
        return self.net.num_feature_field * self.embedding_size + self.mlp_hidden_size[-1]

    def forward(self, interaction):
        x0 = self.flat_embeddings(interaction)
        return torch.cat([self.net.cross_network(x0), self.net.mlp_layers(x0)], dim=-1)


class DCNV2Backbone(MatchingBackbone):
    """DCN-V2: parallel — m = [cross output, deep output]; stacked — m = deep(cross(x0))."""

    recbole_model = "DCNV2"
    prediction_layers = ("predict_layer",)

    @property
    def output_size(self):
        if self.net.structure == "parallel":
            return self.net.in_feature_num + self.mlp_hidden_size[-1]
        return self.mlp_hidden_size[-1]

    def forward(self, interaction):
        x0 = self.flat_embeddings(interaction)
        cross = self.net.cross_network_mix(x0) if self.net.mixed else self.net.cross_network(x0)
        if self.net.structure == "parallel":
            return torch.cat([cross, self.net.mlp_layers(x0)], dim=-1)
        return self.net.mlp_layers(cross)


class XDeepFMBackbone(MatchingBackbone):
    """xDeepFM: m = [CIN's pooled feature maps, DNN's last hidden layer] (before cin_linear and the DNN output)."""

    recbole_model = "xDeepFM"
    prediction_layers = ("cin_linear",)

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        _drop_output_layer(self.net.mlp_layers)  # RecBole's xDeepFM DNN ends in a 1-unit layer
        if config["embedding_init_std"]:
            # CIN multiplies embeddings layer by layer: at std 1e-4 its maps start near 1e-8 and DCR-MoE
            # fell below the plain xDeepFM (valid NDCG@10 0.269 vs 0.350 with Xavier, results/backbones_init.md)
            getLogger().warning(
                f"backbone xDeepFM with embedding_init_std={config['embedding_init_std']}: CIN learns little from "
                "embeddings this small; pass --embedding_init_std=None (Xavier, RecBole's own init)"
            )

    @property
    def output_size(self):
        return self.net.final_len + self.mlp_hidden_size[-1]

    def forward(self, interaction):
        embeddings = self.embeddings(interaction)
        cin = self.net.compressed_interaction_network(embeddings)
        return torch.cat([cin, self.net.mlp_layers(embeddings.view(embeddings.shape[0], -1))], dim=-1)


class _Tap(nn.Module):
    """Stands in for a prediction layer that the experts replace: keeps the vector that layer would read."""

    def forward(self, x):
        self.seen = x
        return x.new_zeros(x.shape[0], 1)


class AutoIntBackbone(MatchingBackbone):
    """AutoInt: m = [flattened multi-head self-attention output, deep part's last hidden layer].

    RecBole's own ``autoint_layer`` runs, with taps in place of its two output layers.
    """

    recbole_model = "AutoInt"
    prediction_layers = ("attn_fc", "deep_predict_layer")

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.net.attn_fc, self.net.deep_predict_layer = _Tap(), _Tap()

    @property
    def output_size(self):
        return self.net.atten_output_dim + self.mlp_hidden_size[-1]

    def forward(self, interaction):
        self.net.autoint_layer(self.embeddings(interaction))
        taps = (self.net.attn_fc, self.net.deep_predict_layer)
        m = torch.cat([tap.seen for tap in taps], dim=-1)
        for tap in taps:
            tap.seen = None  # hold no activations between batches
        return m


BACKBONES = {
    cls.recbole_model: cls
    for cls in (FMBackbone, DeepFMBackbone, WideDeepBackbone, DCNBackbone, DCNV2Backbone,
                XDeepFMBackbone, AutoIntBackbone)
}


def make_backbone(name, config, dataset):
    """The adapter named ``name`` (a RecBole model name), built on ``dataset``."""
    if name not in BACKBONES:
        raise ValueError(f"backbone [{name}] is not supported; choose one of {sorted(BACKBONES)}")
    return BACKBONES[name](config, dataset)
