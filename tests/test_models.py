"""The math of NFMWA, NFMWOA and DCRMoE: do-score, own-expert gradients, batched experts."""

import pytest
import torch

from recbole_dcr.data import create_dataset, data_preparation
from recbole_dcr.model.experts import EXPERT_SHARING
from recbole_dcr.registry import get_model
from tests.conftest import tiny_config


def _model_and_batch(tiny_dataset, tmp_path, model_name="DCRMoE", **overrides):
    data_path, _, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path, model=model_name, train_batch_size=10_000, **overrides)
    train, _, _ = data_preparation(config, create_dataset(config))
    torch.manual_seed(0)
    model = get_model(model_name)(config, train._dataset)
    return model, next(iter(train))


@pytest.mark.parametrize("sharing", EXPERT_SHARING)
def test_do_score_is_prior_weighted_sum_of_forced_condition_scores(tiny_dataset, tmp_path, sharing):
    """The exact adjustment Σ_a P(a)·f(u, x, a), for every expert_sharing design, over the paper's backbone
    that never reads A (so that f(u, x, a) is the model forced to a; with confounder_as_content the sum
    holds the item's own A fixed: test_expert_sharing.py)."""
    model, batch = _model_and_batch(tiny_dataset, tmp_path, expert_sharing=sharing, confounder_as_content=False)
    model.eval()
    with torch.no_grad():
        for p in model.parameters():  # move away from the symmetric init so experts differ
            p.add_(0.3 * torch.randn_like(p))
        do_scores = model.predict(batch)
        model.inference = "condition"
        expected = torch.zeros_like(do_scores)
        for a in range(model.num_confounder_values):
            forced = type(batch)({k: v.clone() for k, v in batch.interaction.items()})
            forced["duration_level"] = torch.full_like(batch["duration_level"], a + 1)
            expected += model.confounder_prior[a] * model.predict(forced)
    torch.testing.assert_close(do_scores, expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(do_scores, model.predict(batch))  # condition differs from do


def _per_value_mlps(model):
    """The K per-value MLPs: the paper's experts, or the default's residual MLPs."""
    return getattr(model.experts, "residual", model.experts)


@pytest.mark.parametrize("sharing", ["separate", "residual"])
def test_own_expert_equals_gathered_all_experts(tiny_dataset, tmp_path, sharing):
    model, batch = _model_and_batch(tiny_dataset, tmp_path, expert_sharing=sharing)
    model.eval()
    with torch.no_grad():
        m, _ = model.expert_input(batch)  # what the experts read
        index = model.confounder_index(batch)
        experts = _per_value_mlps(model)
        gathered = experts.all_experts(m).gather(1, index.unsqueeze(1)).squeeze(1)
        torch.testing.assert_close(experts.own_expert(m, index), gathered, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("sharing", ["separate", "residual"])
def test_gradient_reaches_only_the_samples_own_expert(tiny_dataset, tmp_path, sharing):
    # no residual L2 here: its penalty reaches every value's MLP, the data's gradient only the row's own
    model, batch = _model_and_batch(tiny_dataset, tmp_path, expert_sharing=sharing, residual_weight_decay=0.0)
    index = model.confounder_index(batch)
    own = int(index[0])
    rows = torch.nonzero(index == own).squeeze(1)
    sub = type(batch)({k: v[rows] for k, v in batch.interaction.items()})
    model.train()
    model.calculate_loss(sub).backward()
    experts = _per_value_mlps(model)
    for weight in list(experts.weights) + list(experts.biases):
        grad_norm = weight.grad.flatten(1).norm(dim=1)
        assert grad_norm[own] > 0
        assert torch.all(grad_norm[torch.arange(len(grad_norm)) != own] == 0)


def test_prior_is_saved_in_the_state_dict(tiny_dataset, tmp_path):
    model, _ = _model_and_batch(tiny_dataset, tmp_path)
    assert "confounder_prior" in model.state_dict()
    assert torch.isclose(model.confounder_prior.sum(), torch.tensor(1.0))


def test_confounder_is_input_of_nfmwa_only(tiny_dataset, tmp_path):
    """NFMWA reads A; NFMWOA never; DCRMoE reads the item's own A only with confounder_as_content (its default)."""
    fields = {}
    for name, overrides in (("NFMWA", {}), ("NFMWOA", {}), ("DCRMoE", {}),
                            ("DCRMoE-paper", {"confounder_as_content": False})):
        model, batch = _model_and_batch(tiny_dataset, tmp_path, model_name=name.split("-")[0], **overrides)
        fields[name] = set(model.token_field_names) | set(model.first_order_linear.token_field_names)
        assert model.predict(batch).shape == (len(batch),)
    assert "duration_level" in fields["NFMWA"] & fields["DCRMoE"]
    assert "duration_level" not in fields["NFMWOA"] | fields["DCRMoE-paper"]
    assert {"user_id", "item_id", "category"} <= fields["NFMWOA"] & fields["DCRMoE-paper"]


def test_condition_inference_uses_observed_value(tiny_dataset, tmp_path):
    model, batch = _model_and_batch(tiny_dataset, tmp_path, inference="condition")
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model.predict(batch), torch.sigmoid(model.forward(batch)))
