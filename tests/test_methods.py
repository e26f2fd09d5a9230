"""Each method of the paper does its math: DCRNFM, NWGMDCR, MoE, IPW, CR, FairGo."""

import copy

import pytest
import torch

from recbole_dcr.trainer import DCRTrainer
from recbole_dcr.data import create_dataset, data_preparation
from recbole_dcr.registry import get_model, get_trainer
from recbole_dcr.model.adjustment import with_confounder
from tests.conftest import INTER_HEADER, ITEM_HEADER, tiny_config, write_atomic


def _build(tiny_dataset, tmp_path, model_name, perturb=True, **overrides):
    data_path, _, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path, model=model_name, **{"train_batch_size": 10_000, **overrides})
    train, valid, test = data_preparation(config, create_dataset(config))
    torch.manual_seed(0)
    model = get_model(model_name)(config, train._dataset)
    with torch.no_grad():
        for parameter in model.parameters() if perturb else []:  # away from the init so that values differ
            parameter.add_(0.3 * torch.randn_like(parameter))
    model.eval()
    return config, model, next(iter(train)), (train, valid, test)


def test_dcrnfm_is_prior_weighted_enumeration(tiny_dataset, tmp_path):
    _, model, batch, _ = _build(tiny_dataset, tmp_path, "DCRNFM")
    with torch.no_grad():
        expected = torch.zeros(len(batch))
        for a in range(model.num_confounder_values):
            forced = type(batch)(dict(batch.interaction))
            forced["duration_level"] = torch.full_like(batch["duration_level"], a + 1)
            expected += model.confounder_prior[a] * torch.sigmoid(model.forward(forced))
        torch.testing.assert_close(model.predict(batch), expected)
        assert not torch.allclose(model.predict(batch), torch.sigmoid(model.forward(batch)))


def test_nwgmdcr_equals_a_forward_pass_with_averaged_confounder(tiny_dataset, tmp_path):
    _, model, batch, _ = _build(tiny_dataset, tmp_path, "NWGMDCR")
    averaged = copy.deepcopy(model)
    with torch.no_grad():
        for table, names in (
            (averaged.token_embedding_table, averaged.token_field_names),
            (averaged.first_order_linear.token_embedding_table, averaged.first_order_linear.token_field_names),
        ):
            offset = int(table.offsets[names.index("duration_level")])
            rows = table.embedding.weight[offset + 1 : offset + 1 + model.num_confounder_values]
            rows[:] = model.confounder_prior @ rows  # every value now carries Σ_a P(a)·row(a)
        torch.testing.assert_close(model.predict(batch), torch.sigmoid(averaged.forward(batch)))


def test_moe_is_dcrmoe_with_condition_inference(tiny_dataset, tmp_path):
    config, moe, batch, _ = _build(tiny_dataset, tmp_path, "MoE")
    assert config["inference"] == "condition"
    _, dcrmoe, _, _ = _build(tiny_dataset, tmp_path, "DCRMoE")
    dcrmoe.load_state_dict(moe.state_dict())
    with torch.no_grad():
        do_scores = dcrmoe.predict(batch)
        dcrmoe.inference = "condition"
        torch.testing.assert_close(moe.predict(batch), dcrmoe.predict(batch))
        assert not torch.allclose(moe.predict(batch), do_scores)


def test_ipw_weights_follow_the_formula_on_a_hand_made_table(tmp_path):
    # training rows per level: L0 1/4 positive, L1 2/2, L2 2/4  ->  P(Y=1|a) = 0.25, 1.0, 0.5
    labels = {"L0": [1, 0, 0, 0], "L1": [1, 1], "L2": [1, 1, 0, 0]}
    train, items, n = [], [], 0
    for level, ys in labels.items():
        for y in ys:
            train.append((f"u{n % 3}", f"i{n}", y, y))
            items.append((f"i{n}", level, "c"))
            n += 1
    folder = tmp_path / "data" / "hand"
    write_atomic(folder, "hand.train.inter", INTER_HEADER, train)
    write_atomic(folder, "hand.valid.inter", INTER_HEADER, train[:3])
    write_atomic(folder, "hand.test.inter", INTER_HEADER, train[3:6])
    write_atomic(folder, "hand.item", ITEM_HEADER, items)
    config = tiny_config(str(tmp_path / "data"), tmp_path, model="IPW", dataset="hand", train_batch_size=100)
    dataset = create_dataset(config)
    train_data, _, _ = data_preparation(config, dataset)
    model = get_model("IPW")(config, train_data._dataset)

    order = [dataset.field2id_token["duration_level"][i + 1] for i in range(3)]  # RecBole's id order
    rate = {"L0": 0.25, "L1": 1.0, "L2": 0.5}
    negative_rate = {level: 1 - r for level, r in rate.items()}
    expected_positive = [(rate[lv] / 1.0) ** -0.5 for lv in order]
    expected_negative = [(negative_rate[lv] / 0.75) ** -0.5 if negative_rate[lv] > 0 else 0.0 for lv in order]
    torch.testing.assert_close(model.positive_weight, torch.tensor(expected_positive))
    torch.testing.assert_close(model.negative_weight, torch.tensor(expected_negative))

    batch = next(iter(train_data))
    levels = dataset.id2token("duration_level", batch["duration_level"])
    expected_rows = [
        (rate[lv] ** -0.5) if y == 1 else (negative_rate[lv] / 0.75) ** -0.5
        for lv, y in zip(levels, batch["finish"].tolist())
    ]
    torch.testing.assert_close(model.sample_weights(batch), torch.tensor(expected_rows))


def test_ipw_propensities_come_from_the_training_split_only(tiny_dataset, tmp_path):
    _, model, _, (train, _, test) = _build(tiny_dataset, tmp_path, "IPW")
    from_train = train._dataset.label_rate_by_confounder()
    assert not torch.allclose(from_train, test._dataset.label_rate_by_confounder())
    positive = (from_train / from_train.max()).rsqrt().float()
    torch.testing.assert_close(model.positive_weight, positive)


def test_cr_inference_ignores_the_confounder_but_training_uses_it(tiny_dataset, tmp_path):
    _, model, batch, _ = _build(tiny_dataset, tmp_path, "CR", alpha=0.5)
    with torch.no_grad():
        for a in range(model.num_confounder_values):
            torch.testing.assert_close(model.predict(with_confounder(batch, model.CONFOUNDER, a)), model.predict(batch))
        main_only = model.loss(model.forward(batch), batch["finish"])
        assert not torch.isclose(model.calculate_loss(batch), main_only)
        side = model.side_logit(batch)
        fused = model.loss(model.forward(batch) + torch.tanh(side), batch["finish"])
        torch.testing.assert_close(model.calculate_loss(batch), fused + 0.5 * model.loss(side, batch["finish"]))


def _discriminator_accuracy(tiny_dataset, tmp_path, adversary_weight):
    config, model, batch, (train, valid, _) = _build(
        tiny_dataset, tmp_path, "FairGo", adversary_weight=adversary_weight, epochs=40, eval_step=0,
        learning_rate=0.05, train_batch_size=64, seed=3,
    )
    trainer = get_trainer(config["MODEL_TYPE"], "FairGo")(config, model)
    trainer.fit(train, None, saved=False)
    model.eval()
    with torch.no_grad():
        predicted = model.discriminator(model.representation(batch)).argmax(1)
    return (predicted == model.confounder_index(batch)).float().mean().item()


def test_fairgo_discriminator_falls_toward_chance_as_lambda_grows(tiny_dataset, tmp_path):
    _, model, batch, _ = _build(tiny_dataset, tmp_path, "FairGo")
    chance = torch.bincount(model.confounder_index(batch)).max().item() / len(batch)
    leaky = _discriminator_accuracy(tiny_dataset, tmp_path, 0.0)
    fair = _discriminator_accuracy(tiny_dataset, tmp_path, 10.0)
    assert leaky > chance + 0.15  # the item embeddings in m reveal the item's level
    assert fair < leaky and fair - chance < (leaky - chance) / 2


@pytest.mark.parametrize("source", ["NFMWOA", "NFMWA"])
def test_fairgo_starts_from_a_saved_nfm_checkpoint(source, tiny_dataset, tmp_path):
    config, pretrained, _, (train, valid, _) = _build(tiny_dataset, tmp_path, source, epochs=1)
    trainer = DCRTrainer(config, pretrained)
    trainer.fit(train, valid, saved=True)
    _, fairgo, _, _ = _build(
        tiny_dataset, tmp_path, "FairGo", perturb=False, pretrained_checkpoint=trainer.saved_model_file
    )
    fairgo_rows = fairgo.token_embedding_table.embedding.weight
    source_names = pretrained.token_field_names
    for field in fairgo.token_field_names:
        mine = int(fairgo.token_embedding_table.offsets[fairgo.token_field_names.index(field)])
        theirs = int(pretrained.token_embedding_table.offsets[source_names.index(field)])
        size = train._dataset.num(field)
        torch.testing.assert_close(
            fairgo_rows[mine : mine + size], pretrained.token_embedding_table.embedding.weight[theirs : theirs + size]
        )
    torch.testing.assert_close(fairgo.mlp.weights[0], pretrained.mlp.weights[0])
