"""Several confounders: their joint distribution P(a1, a2) from training rows, models, the simulator."""

import logging

import pytest
import torch

from recbole_dcr import run_recbole_dcr
from recbole_dcr.data.dataset import DatasetError
from recbole_dcr.data import create_dataset, data_preparation
from recbole_dcr.registry import get_model
from recbole_dcr.model.adjustment import with_confounder
from tests.conftest import INTER_HEADER, tiny_config, write_atomic

ITEM_HEADER2 = ["item_id:token", "duration_level:token", "cover:token"]


def _write(tmp_path, train, test_extra=(), items=None):
    folder = tmp_path / "data" / "two"
    write_atomic(folder, "two.train.inter", INTER_HEADER, train)
    write_atomic(folder, "two.valid.inter", INTER_HEADER, train[:4])
    write_atomic(folder, "two.test.inter", INTER_HEADER, list(train[4:8]) + list(test_extra))
    write_atomic(folder, "two.item", ITEM_HEADER2, items)
    return str(tmp_path / "data")


def _config(data_path, tmp_path, **extra):
    return tiny_config(data_path, tmp_path, dataset="two", CONFOUNDER_FIELD=["duration_level", "cover"], **extra)


def test_joint_prior_is_the_frequency_of_observed_combinations(tmp_path):
    items = [("i0", "S", "x"), ("i1", "S", "y"), ("i2", "L", "x"), ("i3", "L", "x"), ("i9", "L", "y")]
    # training rows per item: i0 x3, i1 x1, i2 x2, i3 x2  ->  (S,x)=3/8, (S,y)=1/8, (L,x)=4/8; (L,y) only in test
    train = [(f"u{n}", item, n % 2, n % 2) for n, item in enumerate(["i0"] * 3 + ["i1"] + ["i2"] * 2 + ["i3"] * 2)]
    data_path = _write(tmp_path, train, test_extra=[("u0", "i9", 1, 1)], items=items)
    dataset = create_dataset(_config(data_path, tmp_path))
    assert dataset.confounder_field == "duration_level+cover"
    train_split, _, _ = dataset.build()
    tokens = list(dataset.field2id_token["duration_level+cover"][1:])
    assert sorted(tokens) == ["L|x", "L|y", "S|x", "S|y"]
    expected = {"S|x": 3 / 8, "S|y": 1 / 8, "L|x": 4 / 8, "L|y": 0.0}
    prior = train_split.confounder_prior()
    assert {t: round(float(p), 6) for t, p in zip(tokens, prior)} == {t: round(v, 6) for t, v in expected.items()}
    assert dataset.confounder_parts == ["duration_level", "cover"]


def test_combination_never_seen_in_training_warns(tmp_path, caplog):
    items = [("i0", "S", "x"), ("i1", "L", "y"), ("i2", "L", "x")]
    train = [(f"u{n}", f"i{n % 2}", n % 2, 1) for n in range(10)]
    data_path = _write(tmp_path, train, test_extra=[("u1", "i2", 1, 1)], items=items)
    dataset = create_dataset(_config(data_path, tmp_path))
    with caplog.at_level(logging.WARNING):
        dataset.build()
    assert "['L|x']" in caplog.text and "never in training" in caplog.text


def test_confounders_in_different_files_are_refused(tmp_path):
    folder = tmp_path / "data" / "two"
    rows = [("u0", "i0", 1, 1, "phone")] * 8
    for part in ("train", "valid", "test"):
        write_atomic(folder, f"two.{part}.inter", INTER_HEADER + ["device:token"], rows)
    write_atomic(folder, "two.item", ITEM_HEADER2, [("i0", "S", "x")])
    with pytest.raises(DatasetError, match=r"must all be item fields or all interaction fields.*Fix"):
        create_dataset(tiny_config(str(tmp_path / "data"), tmp_path, dataset="two",
                                   CONFOUNDER_FIELD=["duration_level", "device"]))


@pytest.mark.parametrize("model", ["DCRMoE", "DCRNFM", "NWGMDCR", "NFMWA", "IPW", "CR"])
def test_two_confounders_end_to_end_on_the_simulator(model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    small = {"sim_users": 40, "sim_items": 60, "sim_rows_per_user": 30, "sim_creators": 8, "sim_like_bias": -2.0}
    config = {"data_path": str(tmp_path), "epochs": 1, "show_progress": False, "state": "ERROR",
              "expert_hidden_size": [8], "mlp_hidden_size": [8], "checkpoint_dir": str(tmp_path / "saved"), **small}
    result = run_recbole_dcr(model=model, dataset="dcr_sim2", config_dict=config)
    assert 0 <= result["test_result"]["ndcg@10"] <= 1


def test_plugin_models_take_the_joint_field_not_its_parts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    small = {"sim_users": 40, "sim_items": 60, "sim_rows_per_user": 30, "sim_creators": 8}
    from recbole_dcr.config import Config

    config = Config(model="DCRMoE", dataset="dcr_sim2", config_dict={"data_path": str(tmp_path), **small})
    train, _, _ = data_preparation(config, create_dataset(config))
    model = get_model("DCRMoE")(config, train._dataset)
    nfmwa_config = Config(model="NFMWA", dataset="dcr_sim2", config_dict={"data_path": str(tmp_path), **small})
    nfmwa = get_model("NFMWA")(nfmwa_config, train._dataset)
    assert "duration_level+cover_level" in nfmwa.token_field_names  # the joint field is the input ...
    assert not {"duration_level", "cover_level"} & set(nfmwa.token_field_names + model.token_field_names)  # ... not its parts
    assert model.num_confounder_values == train._dataset.num("duration_level+cover_level") - 1 > 6


@pytest.mark.parametrize("as_content", [False, True])
@pytest.mark.parametrize("experts", ["joint", "factored"])
def test_joint_and_factored_experts_do_the_backdoor_sum(experts, as_content, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    small = {"sim_users": 40, "sim_items": 60, "sim_rows_per_user": 30, "sim_creators": 8}
    from recbole_dcr.config import Config

    config = Config(model="DCRMoE", dataset="dcr_sim2",
                    config_dict={"data_path": str(tmp_path), "confounder_experts": experts,
                                 "confounder_as_content": as_content, **small})
    train, _, _ = data_preparation(config, create_dataset(config))
    model = get_model("DCRMoE")(config, train._dataset)
    assert model.factored == (experts == "factored")
    batch = next(iter(train))
    model.train()
    model.calculate_loss(batch).backward()
    if model.factored:  # each row trains one expert per confounder: its own value's
        levels = train._dataset.num("duration_level") - 1
        assert model.part_experts[0].num_experts == levels and model.part_experts[1].num_experts == 3
        parts = model.part_index[model.confounder_index(batch)]
        used = set(parts[:, 0].tolist())
        per_value = getattr(model.part_experts[0], "residual", model.part_experts[0])  # the default shares a trunk
        grads = per_value.biases[-1].grad.flatten()
        assert all((grads[k] != 0) == (k in used) for k in range(levels))
    model.eval()
    with torch.no_grad():
        do = model.predict(batch)
        if as_content:  # the sum over the intervened value, with m (the item's own values) held fixed
            h, added = model.expert_input(batch)
            expected = torch.sigmoid(model.expert_logits(h) + added.unsqueeze(-1)) @ model.confounder_prior
            own = model.confounder_index(batch)  # ... of the function trained at the row's own value
            torch.testing.assert_close(model.forward(batch), (model.expert_logits(h) + added.unsqueeze(-1))[
                torch.arange(len(own)), own], rtol=1e-5, atol=1e-5)
        else:  # the backbone never reads A: f(u, x, a) is the model forced to a
            model.inference = "condition"
            expected = sum(model.confounder_prior[a] * model.predict(with_confounder(batch, model.CONFOUNDER, a))
                           for a in range(model.num_confounder_values))
    torch.testing.assert_close(do, expected)
