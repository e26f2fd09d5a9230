"""One backdoor adjustment: NFM-WA enumerated, the generic wrapper over NFM-WA and DCRNFM agree (and NWGM likewise)."""

import pytest
import torch

from recbole_dcr.data import create_dataset, data_preparation
from recbole_dcr.model.adjustment import averaged_confounder, backdoor_sum, check_inference, with_confounder
from recbole_dcr.registry import get_model
from tests.conftest import tiny_config


def _models(tiny_dataset, tmp_path, inference):
    """NFMWA (random weights), DCR(base_model=NFMWA) and the preset, all holding the same weights; one batch."""
    data_path, _, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path, model="NFMWA", train_batch_size=10_000)
    train, _, _ = data_preparation(config, create_dataset(config))
    torch.manual_seed(0)
    nfmwa = get_model("NFMWA")(config, train._dataset)
    with torch.no_grad():
        for parameter in nfmwa.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    preset_name = {"do": "DCRNFM", "nwgm": "NWGMDCR"}[inference]
    preset = get_model(preset_name)(tiny_config(data_path, tmp_path, model=preset_name), train._dataset)
    preset.load_state_dict(nfmwa.state_dict())
    wrapper_config = tiny_config(data_path, tmp_path, model="DCR", base_model="NFMWA", inference=inference)
    wrapper = get_model("DCR")(wrapper_config, train._dataset)
    wrapper.base.load_state_dict(nfmwa.state_dict())
    for model in (nfmwa, preset, wrapper):
        model.eval()
    return nfmwa, preset, wrapper, next(iter(train))


def test_enumeration_over_nfmwa_the_wrapper_and_dcrnfm_give_the_same_scores(tiny_dataset, tmp_path):
    nfmwa, dcrnfm, wrapper, batch = _models(tiny_dataset, tmp_path, "do")
    assert dcrnfm.inference == "do" and nfmwa.inference == "condition"
    with torch.no_grad():
        per_value = torch.stack([nfmwa.predict(with_confounder(batch, nfmwa.CONFOUNDER, a))
                                 for a in range(nfmwa.num_confounder_values)], dim=1)
        enumerated = backdoor_sum(per_value, nfmwa.confounder_prior)
        torch.testing.assert_close(dcrnfm.predict(batch), enumerated)
        torch.testing.assert_close(wrapper.predict(batch), enumerated)
        assert not torch.allclose(enumerated, nfmwa.predict(batch))  # the adjustment changes the scores


def test_nwgm_of_nwgmdcr_and_of_the_wrapper_agree_and_write_no_weight(tiny_dataset, tmp_path):
    nfmwa, nwgmdcr, wrapper, batch = _models(tiny_dataset, tmp_path, "nwgm")
    before = {k: v.clone() for k, v in nwgmdcr.state_dict().items()}
    with torch.no_grad():
        # by hand: the confounder's embedding row and first-order weight are their P(a)-averages
        embeddings = nfmwa.concat_embed_input_fields(batch)
        slot = nfmwa.token_field_names.index(nfmwa.CONFOUNDER)
        table = nfmwa.token_embedding_table
        start = int(table.offsets[slot]) + 1
        rows = table.embedding.weight[start : start + nfmwa.num_confounder_values]
        embeddings[:, slot] = nfmwa.confounder_prior @ rows
        linear = nfmwa.first_order_linear.token_embedding_table
        start = int(linear.offsets[slot]) + 1
        weights = linear.embedding.weight[start : start + nfmwa.num_confounder_values, 0]
        observed = linear.embedding.weight[batch[nfmwa.CONFOUNDER].long() + start - 1, 0]
        first_order = nfmwa.first_order(batch) - observed + nfmwa.confounder_prior @ weights
        m = nfmwa.matching(batch, embeddings)
        if nfmwa.first_order_input:
            expected = torch.sigmoid(nfmwa.head(torch.cat([first_order.unsqueeze(-1), m], dim=-1)))
        else:
            expected = torch.sigmoid(nfmwa.head(m) + first_order)
        torch.testing.assert_close(nwgmdcr.predict(batch), expected)
        torch.testing.assert_close(wrapper.predict(batch), expected)
    for key, value in nwgmdcr.state_dict().items():
        assert torch.equal(value, before[key])  # hooks, not writes into the weights


def test_averaged_confounder_removes_its_hooks(tiny_dataset, tmp_path):
    nfmwa, _, _, batch = _models(tiny_dataset, tmp_path, "do")
    with torch.no_grad():
        plain = nfmwa.predict(batch)
        with averaged_confounder(nfmwa, nfmwa.CONFOUNDER, nfmwa.confounder_prior):
            averaged = nfmwa.predict(batch)
        assert not torch.allclose(plain, averaged)
        torch.testing.assert_close(nfmwa.predict(batch), plain)
    assert not nfmwa.token_embedding_table._forward_hooks


def test_one_inference_key_with_clear_refusals(tiny_dataset, tmp_path):
    data_path, _, _ = tiny_dataset
    assert check_inference("do", ("do", "condition"), "DCRMoE") == "do"
    with pytest.raises(ValueError, match=r"DCRMoE ranks with inference: do or condition; got 'nwgm'"):
        check_inference("nwgm", ("do", "condition"), "DCRMoE")
    config = tiny_config(data_path, tmp_path, model="NFMWOA", inference="do")
    with pytest.raises(ValueError, match=r"NFMWOA ranks with inference: condition; got 'do'"):
        get_model("NFMWOA")(config, create_dataset(config).build()[0])


def test_confounder_given_content_on_a_hand_made_table(tmp_path):
    from recbole_dcr.overlap import confounder_given_content
    from tests.conftest import INTER_HEADER, ITEM_HEADER, write_atomic

    # category c0 items have levels L0 (3 rows) and L1 (1 row); c1 items only L2
    items = [("i0", "L0", "c0"), ("i1", "L1", "c0"), ("i2", "L2", "c1"), ("i3", "L2", "c1")]
    train = [("u0", "i0", 1, 0), ("u1", "i0", 0, 1), ("u2", "i0", 1, 0), ("u0", "i1", 1, 1),
             ("u1", "i2", 0, 0), ("u2", "i3", 1, 1)]
    folder = tmp_path / "data" / "content"
    for part in ("train", "valid", "test"):
        write_atomic(folder, f"content.{part}.inter", INTER_HEADER, train)
    write_atomic(folder, "content.item", ITEM_HEADER, items)
    config = tiny_config(str(tmp_path / "data"), tmp_path, dataset="content")
    dataset = create_dataset(config)
    split = dataset.build()[0]
    given = confounder_given_content(split)
    level = {dataset.id2token("duration_level", i + 1): i for i in range(3)}
    item = {token: dataset.token2id("item_id", token) for token in ("i0", "i1", "i2")}
    expected_c0 = [0.0] * 3
    expected_c0[level["L0"]], expected_c0[level["L1"]] = 0.75, 0.25
    torch.testing.assert_close(torch.as_tensor(given[item["i0"]]), torch.tensor(expected_c0, dtype=torch.float64))
    torch.testing.assert_close(torch.as_tensor(given[item["i1"]]), torch.tensor(expected_c0, dtype=torch.float64))
    assert given[item["i2"]][level["L2"]] == 1.0


def test_content_aware_weights_reduce_to_do_and_to_the_content_prior():
    from recbole_dcr.model.adjustment import content_aware_weights

    prior = torch.tensor([0.5, 0.3, 0.2])
    same = prior.expand(2, -1)
    for mode in ("supported", "shrunk"):  # full overlap: the paper's P(a)
        torch.testing.assert_close(content_aware_weights(mode, prior, same, 0.01), same)
    determined = torch.tensor([[0.0, 1.0, 0.0]])  # the content occurs with one value of A only
    torch.testing.assert_close(content_aware_weights("supported", prior, determined, 0.01), determined)
    torch.testing.assert_close(content_aware_weights("shrunk", prior, determined, 0.01),
                               0.3 * prior + 0.7 * determined)  # overlap Σ min = 0.3
    partial = torch.tensor([[0.6, 0.4, 0.0]])
    torch.testing.assert_close(content_aware_weights("supported", prior, partial, 0.01),
                               torch.tensor([[0.5 / 0.8, 0.3 / 0.8, 0.0]]))


@pytest.mark.parametrize("mode", ["supported", "shrunk"])
def test_dcrmoe_content_aware_inference_is_the_weighted_expert_sum(mode, tiny_dataset, tmp_path):
    from recbole_dcr.model.adjustment import content_aware_weights

    data_path, _, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path, model="DCRMoE", inference=mode, train_batch_size=10_000)
    train, _, _ = data_preparation(config, create_dataset(config))
    torch.manual_seed(0)
    model = get_model("DCRMoE")(config, train._dataset).eval()
    batch = next(iter(train))
    with torch.no_grad():
        given = model.confounder_given_content[batch["item_id"].long()]
        weights = content_aware_weights(mode, model.confounder_prior, given, config["support_epsilon"])
        torch.testing.assert_close(model.predict(batch), (model.expert_probabilities(batch) * weights).sum(1))
        assert torch.allclose(weights.sum(1), torch.ones(len(batch)))
