"""Each method of the paper does its math: DCRNFM, NWGMDCR, MoE, IPW, CR, FairGo."""

import copy

import pytest
import torch
from torch import nn

from recbole_dcr.trainer import DCRTrainer
from recbole_dcr.data import create_dataset, data_preparation
from recbole_dcr.registry import get_model, get_trainer
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


def test_cr_is_built_as_the_authors_built_it(tiny_dataset, tmp_path):
    config, model, batch, _ = _build(tiny_dataset, tmp_path, "CR", alpha=0.5)
    assert "duration_level" in model.token_field_names  # A enters the main branch (an NFM-WA)
    assert [w.shape[-1] for w in model.side.weights] == [256, 128, 1]  # the authors': the main branch's sizes
    assert model.side.weights[0].shape[1] == model.embedding_size  # it reads A's embedding
    with torch.no_grad():
        main, side = model.branch_logits(batch)
        torch.testing.assert_close(model.predict(batch), torch.sigmoid(main))  # ranks by the main branch
        expected = model.loss(main + torch.tanh(side), batch["finish"]) + 0.5 * model.loss(side, batch["finish"])
        torch.testing.assert_close(model.calculate_loss(batch), expected)
        assert model.loss.reduction == "sum"  # eq. 3's sum, so the paper's alpha grid keeps its meaning
        # the side branch reads A's own row of the shared embedding table, nothing else of the row
        table, slot = model.token_embedding_table, model.token_field_names.index("duration_level")
        rows = slice(int(table.offsets[slot]) + 1, int(table.offsets[slot]) + 1 + model.num_confounder_values)
        table.embedding.weight[rows] += 1.0
        moved_main, moved_side = model.branch_logits(batch)
        assert not torch.allclose(moved_side, side) and not torch.allclose(moved_main, main)
        user_rows = slice(0, int(table.offsets[1]))
        table.embedding.weight[user_rows] += 1.0
        torch.testing.assert_close(model.branch_logits(batch)[1], moved_side)


def _trained_fairgo(tiny_dataset, tmp_path, adversary_weight, **extra):
    config, model, batch, (train, valid, _) = _build(
        tiny_dataset, tmp_path, "FairGo", perturb=False, adversary_weight=adversary_weight, epochs=30,
        learning_rate=0.05, fairgo_learning_rate=0.01, train_batch_size=64, seed=3, weight_decay=0.0,
        embedding_weight_decay=0.0, **extra,
    )
    trainer = get_trainer(config["MODEL_TYPE"], "FairGo")(config, model)
    trainer.fit(train, valid, saved=False)
    model.eval()
    return model, batch, trainer


def _discriminator_accuracy(model, batch):
    with torch.no_grad():
        predicted = model.discriminator(model.representation(batch)[0]).argmax(1)
    return (predicted == model.confounder_index(batch)).float().mean().item()


def test_fairgo_is_built_as_the_authors_built_it(tiny_dataset, tmp_path):
    config, model, batch, _ = _build(tiny_dataset, tmp_path, "FairGo")
    k = model.num_confounder_values
    assert "duration_level" in model.token_field_names  # its recommender is NFM-WA
    size = 17 if config["first_order_input"] else 16  # [first-order logit, m], what NFM's MLP reads
    linears = lambda net: [(layer.in_features, layer.out_features) for layer in net if isinstance(layer, nn.Linear)]  # noqa: E731
    assert linears(model.filter) == [(size, 2 * size), (2 * size, size), (size, size)]
    assert linears(model.discriminator) == [(size, 8), (8, k), (k, k), (k, k)]
    assert all(isinstance(layer, nn.LeakyReLU) and layer.negative_slope == 0.2
               for net in (model.filter, model.discriminator) for layer in net if not isinstance(layer, nn.Linear))
    with torch.no_grad():
        h, added = model.representation(batch)
        fit = model.loss(model.head(h) + added, batch["finish"])
        fool = torch.nn.functional.cross_entropy(model.discriminator(h), model.confounder_index(batch))
        torch.testing.assert_close(model.calculate_loss(batch), fit - model.adversary_weight * fool)


def test_fairgo_pretrains_nfmwa_then_trains_only_filter_and_mlp(tiny_dataset, tmp_path):
    config, model, batch, (train, valid, _) = _build(tiny_dataset, tmp_path, "FairGo", perturb=False, epochs=2)
    trainer = get_trainer(config["MODEL_TYPE"], "FairGo")(config, model)
    stages = []
    original = trainer._train_epoch

    def spy(*args, **kwargs):
        stages.append(model.filtering)
        return original(*args, **kwargs)

    trainer._train_epoch = spy
    trainer.fit(train, valid, saved=True)
    assert stages == [False, False, True, True]  # pretraining epochs, then adversarial ones
    pretrained_embeddings = torch.load(trainer.saved_model_file, weights_only=True)["state_dict"]
    adversarial = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert adversarial == {id(p) for p in model.adversarial_parameters()}
    assert id(model.token_embedding_table.embedding.weight) not in adversarial
    assert isinstance(trainer.optimizer, torch.optim.Adam) and isinstance(trainer.discriminator_optimizer, torch.optim.Adam)
    assert "token_embedding_table.embedding.weight" in pretrained_embeddings


def test_fairgo_discriminator_falls_toward_chance_as_lambda_grows(tiny_dataset, tmp_path):
    _, model, batch, _ = _build(tiny_dataset, tmp_path, "FairGo")
    chance = torch.bincount(model.confounder_index(batch)).max().item() / len(batch)
    # the authors' layout: the filter reads [first-order logit, m], where A's first-order weight shows A plainly
    leaky = _discriminator_accuracy(*_trained_fairgo(tiny_dataset, tmp_path, 0.0, first_order_input=True)[:2])
    fair = _discriminator_accuracy(*_trained_fairgo(tiny_dataset, tmp_path, 50.0, first_order_input=True)[:2])
    assert leaky > chance + 0.15  # A is an input: the representation reveals the item's level
    assert fair < leaky and fair - chance < (leaky - chance) / 2


def test_fairgo_starts_from_a_saved_nfmwa_checkpoint(tiny_dataset, tmp_path):
    # FairGo's NFM reads the first-order logit in its MLP (the authors' layout): so must the checkpoint's
    config, pretrained, _, (train, valid, _) = _build(tiny_dataset, tmp_path, "NFMWA", epochs=1, first_order_input=True)
    trainer = DCRTrainer(config, pretrained)
    trainer.fit(train, valid, saved=True)
    _, fairgo, _, _ = _build(
        tiny_dataset, tmp_path, "FairGo", perturb=False, pretrained_checkpoint=trainer.saved_model_file
    )
    assert fairgo.pretrained
    torch.testing.assert_close(fairgo.token_embedding_table.embedding.weight,
                               pretrained.token_embedding_table.embedding.weight)
    torch.testing.assert_close(fairgo.mlp.weights[0], pretrained.mlp.weights[0])


@pytest.mark.parametrize("pretrained_model, message", [
    ("NFMWOA", "starts from an NFMWA checkpoint"),
    ("NFMWA", "same embedding_size, mlp_hidden_size and first_order_input"),  # NFMWA of another layout: the key to change
])
def test_fairgo_refuses_a_checkpoint_it_cannot_start_from(pretrained_model, message, tiny_dataset, tmp_path):
    config, pretrained, _, (train, valid, _) = _build(tiny_dataset, tmp_path, pretrained_model, epochs=1)
    trainer = DCRTrainer(config, pretrained)
    trainer.fit(train, valid, saved=True)
    with pytest.raises(ValueError, match=message):
        _build(tiny_dataset, tmp_path, "FairGo", pretrained_checkpoint=trainer.saved_model_file)
