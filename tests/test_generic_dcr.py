"""The generic DCR wrapper: any context model, exact enumeration, NWGM, refusals."""

import copy

import pytest
import torch

from recbole_dcr import run_recbole_dcr
from recbole_dcr.data import create_dataset, data_preparation
from recbole_dcr.registry import get_model
from tests.conftest import tiny_config, tiny_config_dict

RECBOLE_CONTEXT_MODELS = [
    "LR", "FM", "NFM", "DeepFM", "WideDeep", "DCN", "DCNV2", "xDeepFM", "AutoInt", "AFM", "FFM", "FNN", "FwFM",
    "PNN", "DSSM", "EulerNet", "FiGNN", "KD_DAGFM",
]


def _wrapper(tiny_dataset, tmp_path, base, inference="do"):
    data_path, _, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path, model="DCR", base_model=base, inference=inference,
                         train_batch_size=10_000)
    train, _, _ = data_preparation(config, create_dataset(config))
    torch.manual_seed(0)
    model = get_model("DCR")(config, train._dataset)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))
    model.eval()
    return model, next(iter(train))


@pytest.mark.parametrize("base", ["FM", "DeepFM", "xDeepFM", "AutoInt"])
def test_enumerate_equals_manual_prior_weighted_loop(base, tiny_dataset, tmp_path):
    model, batch = _wrapper(tiny_dataset, tmp_path, base)
    with torch.no_grad():
        expected = torch.zeros(len(batch))
        for a in range(model.num_confounder_values):
            forced = type(batch)(dict(batch.interaction))
            forced["duration_level"] = torch.full_like(batch["duration_level"], a + 1)
            expected += model.confounder_prior[a] * model.base.predict(forced).reshape(-1)
        torch.testing.assert_close(model.predict(batch), expected)


@pytest.mark.parametrize("base", ["NFM", "DeepFM"])
def test_nwgm_equals_a_pass_with_averaged_rows_and_leaves_weights_intact(base, tiny_dataset, tmp_path):
    model, batch = _wrapper(tiny_dataset, tmp_path, base, "nwgm")
    averaged = copy.deepcopy(model.base)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for owner in (averaged, averaged.first_order_linear):
            table, names = owner.token_embedding_table, owner.token_field_names
            start = int(table.offsets[names.index("duration_level")]) + 1
            rows = table.embedding.weight[start : start + model.num_confounder_values]
            rows[:] = model.confounder_prior @ rows
        torch.testing.assert_close(model.predict(batch), averaged.predict(batch))
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key])  # the averaging was temporary


def test_condition_is_the_base_model(tiny_dataset, tmp_path):
    model, batch = _wrapper(tiny_dataset, tmp_path, "DeepFM", "condition")
    with torch.no_grad():
        torch.testing.assert_close(model.predict(batch), model.base.predict(batch))


def test_nwgm_is_refused_where_the_confounder_has_other_tables(tiny_dataset, tmp_path):
    with pytest.raises(ValueError, match=r"FFM also embeds fields in \['ffm\..*Use inference: do"):
        _wrapper(tiny_dataset, tmp_path, "FFM", "nwgm")


def test_base_model_yaml_defaults_are_loaded(tiny_dataset, tmp_path):
    data_path, _, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path, model="DCR", base_model="xDeepFM")
    assert config["cin_layer_size"] == [100, 100, 100]  # from RecBole's xDeepFM.yaml
    assert config["embedding_size"] == 16  # DCR.yaml beats the base model's yaml


@pytest.mark.parametrize("base", RECBOLE_CONTEXT_MODELS + ["NFMWA"])
def test_every_context_model_trains_and_ranks_through_the_wrapper(base, tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data_path, _, _ = tiny_dataset
    config = tiny_config_dict(data_path, tmp_path, base_model=base, epochs=1, state="ERROR", mlp_hidden_size=[8])
    result = run_recbole_dcr(model="DCR", dataset="tiny", config_dict=config)
    assert 0 <= result["test_result"]["ndcg@3"] <= 1


def test_the_old_key_dcr_inference_still_works_with_a_warning(tiny_dataset, tmp_path):
    data_path, _, _ = tiny_dataset
    with pytest.warns(DeprecationWarning, match="dcr_inference"):
        config = tiny_config(data_path, tmp_path, model="DCR", dcr_inference="enumerate")
    assert config["inference"] == "do"
    with pytest.warns(DeprecationWarning):
        assert tiny_config(data_path, tmp_path, model="DCR", dcr_inference="nwgm")["inference"] == "nwgm"
