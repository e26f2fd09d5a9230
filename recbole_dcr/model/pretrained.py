"""Start a model from the NFM backbone of a saved NFMWOA or NFMWA checkpoint."""

import torch
from recbole.utils import FeatureSource, FeatureType

from recbole_dcr.checkpoint import load_checkpoint

FEATURE_SOURCES = [FeatureSource.INTERACTION, FeatureSource.USER, FeatureSource.USER_ID, FeatureSource.ITEM, FeatureSource.ITEM_ID]
TOKEN_TABLES = ["token_embedding_table.embedding.weight", "first_order_linear.token_embedding_table.embedding.weight"]


def _without_field_rows(weight, dataset, label, field):
    """Rows of a RecBole token table built with ``field`` minus that field's block."""
    tokens = [
        f for f in dataset.fields(source=FEATURE_SOURCES) if f != label and dataset.field2type[f] == FeatureType.TOKEN
    ]
    dims = [dataset.num(f) for f in tokens]
    start = sum(dims[: tokens.index(field)])
    return torch.cat([weight[:start], weight[start + dims[tokens.index(field)] :]])


def load_pretrained_backbone(model, path, dataset):
    """Copy every parameter of the checkpoint that the model has (embeddings, BN, MLP, first order)."""
    checkpoint = load_checkpoint(path)
    if checkpoint["model"] not in ("NFMWOA", "NFMWA") or checkpoint["dataset"] != dataset.dataset_name:
        raise ValueError(
            f"{path} holds {checkpoint['model']} on {checkpoint['dataset']}; {type(model).__name__} starts from an "
            f"NFMWOA or NFMWA checkpoint of dataset {dataset.dataset_name}."
        )
    if model.confounder_as_input and checkpoint["model"] == "NFMWOA":
        raise ValueError(f"{path} holds NFMWOA, without the confounder's rows; {type(model).__name__} takes the "
                         f"confounder as an input and starts from an NFMWA checkpoint.")
    state = dict(checkpoint["state_dict"])
    if checkpoint["model"] == "NFMWA" and not model.confounder_as_input:
        for key in TOKEN_TABLES:
            state[key] = _without_field_rows(state[key], dataset, model.LABEL, model.CONFOUNDER)
    own = model.state_dict()
    mismatched = [k for k in state if k in own and state[k].shape != own[k].shape]
    if mismatched:
        raise ValueError(f"{path}: parameters {mismatched} do not fit {type(model).__name__}'s shapes; train the "
                         f"checkpoint with the same embedding_size, mlp_hidden_size and first_order_input")
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
