"""DCR-MoE on every supported backbone: trains, and its do-score is the P(a)-weighted condition score."""

import pytest
import torch

from recbole_dcr import run_recbole_dcr
from recbole_dcr.model.backbones import BACKBONES
from recbole_dcr.data import create_dataset, data_preparation
from recbole_dcr.registry import get_model
from recbole_dcr.model.adjustment import with_confounder
from tests.conftest import tiny_config, tiny_config_dict

ALL_BACKBONES = ["NFM"] + sorted(BACKBONES)


@pytest.mark.parametrize("backbone", ALL_BACKBONES)
def test_do_score_is_prior_weighted_condition_score(backbone, tiny_dataset, tmp_path):
    data_path, _, _ = tiny_dataset
    # the paper's DCR-MoE, whose backbone never reads A: f(u, x, a) is the row's own expert at a
    # (confounder_as_content's sum, with the item's own A held fixed, is tested in test_expert_sharing.py)
    config = tiny_config(data_path, tmp_path, backbone=backbone, train_batch_size=10_000, mlp_hidden_size=[8],
                         confounder_as_content=False)
    train, _, _ = data_preparation(config, create_dataset(config))
    model = get_model("DCRMoE")(config, train._dataset)
    batch = next(iter(train))
    model.train()
    model.calculate_loss(batch).backward()  # gradients reach the backbone's own layers
    assert all(p.grad is not None for n, p in model.named_parameters() if n.startswith("backbone.net.")
               and "first_order" not in n and "embedding_table" not in n)
    model.eval()
    with torch.no_grad():
        do_scores = model.predict(batch)
        model.inference = "condition"
        expected = sum(
            model.confounder_prior[a] * model.predict(with_confounder(batch, model.CONFOUNDER, a))
            for a in range(model.num_confounder_values)
        )
    torch.testing.assert_close(do_scores, expected)
    names = dict(model.named_parameters())
    assert not any("duration_level" in n for n in names)
    if backbone != "NFM":  # one copy of the field embeddings, shared with the backbone
        assert model.backbone.net.token_embedding_table is model.token_embedding_table
        assert "duration_level" not in model.backbone.net.token_field_names


@pytest.mark.parametrize("backbone", ALL_BACKBONES)
def test_every_backbone_runs_end_to_end(backbone, tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data_path, _, _ = tiny_dataset
    config = tiny_config_dict(data_path, tmp_path, backbone=backbone, epochs=1, state="ERROR", mlp_hidden_size=[8])
    result = run_recbole_dcr(model="DCRMoE", dataset="tiny", config_dict=config)
    assert 0 <= result["test_result"]["ndcg@3"] <= 1


def test_unknown_backbone_is_refused(tiny_dataset, tmp_path):
    data_path, _, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path, backbone="FFM")
    train, _, _ = data_preparation(config, create_dataset(config))
    with pytest.raises(ValueError, match=r"backbone \[FFM\] is not supported; choose one of"):
        get_model("DCRMoE")(config, train._dataset)


@pytest.mark.parametrize("init_std, warned", [(1e-4, True), (None, False)])
def test_xdeepfm_warns_about_the_small_embedding_init(init_std, warned, tiny_dataset, tmp_path, caplog):
    data_path, _, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path, backbone="xDeepFM", embedding_init_std=init_std, mlp_hidden_size=[8])
    train, _, _ = data_preparation(config, create_dataset(config))
    with caplog.at_level("WARNING"):
        get_model("DCRMoE")(config, train._dataset)
    assert ("--embedding_init_std=None" in caplog.text) == warned
