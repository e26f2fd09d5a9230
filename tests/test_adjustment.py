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
