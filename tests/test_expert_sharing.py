"""expert_sharing (issue #22): every design is a function of (m, a), trained with each row's own a, ranked
with the exact Σ_a P(a)·f(u, x, a); the paper's separate experts stay one key away."""

import pytest
import torch
from recbole.data.interaction import Interaction

from recbole_dcr.data import create_dataset, data_preparation
from recbole_dcr.model.adjustment import with_confounder
from recbole_dcr.model.experts import (
    EXPERT_SHARING,
    ConditionedMLP,
    EmbeddedValueMLP,
    ExpertMLPs,
    SharedTrunkHeads,
    SharedWithResidual,
)
from recbole_dcr.registry import get_model
from tests.conftest import tiny_config

BLOCKS = {
    "separate": lambda: ExpertMLPs(4, 8, [16, 8]),
    "pull": lambda: ExpertMLPs(4, 8, [16, 8], pull=0.5),
    "heads": lambda: SharedTrunkHeads(4, 8, [16, 8]),
    "residual": lambda: SharedWithResidual(4, 8, [16, 8], [4], residual_weight_decay=0.5),
    "residual_gain": lambda: SharedWithResidual(4, 8, [16, 8], [4], residual_weight_decay=0.5, gain=True),
    "conditioned": lambda: ConditionedMLP(4, 8, [16, 8]),
    "embedded": lambda: EmbeddedValueMLP(4, 8, 8, [16, 8]),
}
FIELD_SUM = torch.randn(300, 8)


def _call(block, m, index=None):
    context = {"field_sum": FIELD_SUM[: len(m)]} if getattr(block, "needs_field_sum", False) else {}
    return block(m, index, **context)


def _perturbed(block):
    torch.manual_seed(3)
    with torch.no_grad():  # biases start at zero: move every parameter so that values differ
        for p in block.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return block


@pytest.mark.parametrize("sharing", sorted(BLOCKS))
def test_own_value_equals_that_column_of_every_value(sharing):
    block = _perturbed(BLOCKS[sharing]())
    m, index = torch.randn(300, 8), torch.randint(0, 4, (300,))
    every = _call(block, m)
    assert every.shape == (300, 4)
    torch.testing.assert_close(_call(block, m, index), every[torch.arange(300), index], rtol=1e-5, atol=1e-6)
    with torch.no_grad():  # inference slices (a CPU) equal the training pass
        torch.testing.assert_close(_call(block, m), every.detach(), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(every[:, 0], every[:, 1])  # the values really differ


def _per_value_only_and_shared(block, sharing):
    """(parameters indexed by value on dim 0, parameters every value uses) of a block."""
    if sharing == "separate":
        return list(block.weights) + list(block.biases), []
    if sharing == "heads":
        return [block.heads.weight, block.heads.bias], list(block.trunk.weights)
    if sharing == "residual":
        return list(block.residual.weights), list(block.shared.weights)
    if sharing == "residual_gain":
        return list(block.residual.weights) + [block.log_gain], list(block.shared.weights)
    if sharing == "embedded":
        return [block.value_embedding.weight, block.value_weight.weight], list(block.mlp.weights)
    return [block.value.bias], list(block.mlp.weights)


@pytest.mark.parametrize("sharing", ["separate", "heads", "residual", "residual_gain", "conditioned", "embedded"])
def test_a_row_trains_what_its_own_value_uses(sharing):
    """Rows of value 1 only: no gradient reaches what only other values use; shared parts do get one."""
    block = _perturbed(BLOCKS[sharing]())
    _call(block, torch.randn(50, 8), torch.ones(50, dtype=torch.long)).sum().backward()
    per_value, shared = _per_value_only_and_shared(block, sharing)
    for parameter in per_value:
        grad = parameter.grad.reshape(len(parameter), -1).norm(dim=1)
        assert grad[1] > 0 and torch.all(grad[[0, 2, 3]] == 0)
    for weight in shared:
        assert weight.grad.abs().sum() > 0


def test_pull_and_residual_penalties():
    pull = _perturbed(ExpertMLPs(3, 8, [16], pull=0.5))
    expected = 0.5 * sum(((w - w.mean(0)) ** 2).sum() for w in pull.weights)
    torch.testing.assert_close(pull.penalty(), expected)
    with torch.no_grad():
        for w in pull.weights:
            w.copy_(w[0].clone().expand_as(w))  # identical experts: nothing to pull (clone: never copy a tensor into itself)
    assert float(pull.penalty()) < 1e-10
    assert ExpertMLPs(3, 8, [16]).penalty() is None  # separate: the paper's loss, no extra term
    residual = SharedWithResidual(3, 8, [16], [4], residual_weight_decay=0.5)
    torch.testing.assert_close(residual.penalty(), 0.5 * sum((w ** 2).sum() for w in residual.residual.weights))


def test_residual_gain_scales_the_shared_logit_per_value():
    """residual_gain: value a's logit is exp(g_a)·shared(m) + residual_a(m); g = 0 is the plain residual."""
    block = _perturbed(SharedWithResidual(4, 8, [16], [4], gain=True))
    m = torch.randn(30, 8)
    shared, residual = block.shared(m), block.residual(m)
    torch.testing.assert_close(block(m), shared * block.log_gain.exp() + residual)
    with torch.no_grad():
        block.log_gain.zero_()
    plain = SharedWithResidual(4, 8, [16], [4])
    plain.load_state_dict({k: v for k, v in block.state_dict().items() if k != "log_gain"})
    assert plain.log_gain is None
    torch.testing.assert_close(block(m), plain(m))
    block.reset_parameters()
    assert torch.all(block.log_gain == 0)


def test_residual_gain_is_wired_from_the_config(tiny_dataset, tmp_path):
    model, batch, _ = _model(tiny_dataset, tmp_path, residual_gain=True)
    assert model.experts.log_gain is not None and len(model.experts.log_gain) == model.num_confounder_values
    model.calculate_loss(batch).backward()
    assert model.experts.log_gain.grad.abs().sum() > 0
    default, _, _ = _model(tiny_dataset, tmp_path)
    assert default.experts.log_gain is None  # the yaml default


def test_inference_cost_per_candidate_is_not_above_separate_experts():
    """Table 4 of issue #22: a sharing design costs no more multiply-adds per candidate than separate, but for
    embedded's e_a ⊙ s (embedding_size per value: 0.04% of the paper's expert sizes)."""
    separate = ExpertMLPs(6, 16, [256, 128]).multiply_adds(all_values=True)
    blocks = {"separate": ExpertMLPs(6, 16, [256, 128]), "pull": ExpertMLPs(6, 16, [256, 128], pull=1.0),
              "heads": SharedTrunkHeads(6, 16, [256, 128]), "residual": SharedWithResidual(6, 16, [256, 128], [32], gain=True),
              "conditioned": ConditionedMLP(6, 16, [256, 128]), "embedded": EmbeddedValueMLP(6, 16, 16, [256, 128])}
    assert set(blocks) == set(EXPERT_SHARING)
    for sharing, block in blocks.items():
        extra = 6 * 16 if sharing == "embedded" else 0
        assert block.multiply_adds(all_values=True) <= separate + extra, sharing
    assert blocks["heads"].multiply_adds(all_values=True) < separate / 5  # the trunk runs once per candidate


def _model(tiny_dataset, tmp_path, **overrides):
    data_path, _, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path, train_batch_size=10_000, **overrides)
    train, _, _ = data_preparation(config, create_dataset(config))
    torch.manual_seed(0)
    return get_model(config["model"])(config, train._dataset), next(iter(train)), config


@pytest.mark.parametrize("sharing", EXPERT_SHARING)
def test_every_design_trains(tiny_dataset, tmp_path, sharing):
    """(Its ranking, the exact adjustment, is tested for every design in test_models.py.)"""
    model, batch, _ = _model(tiny_dataset, tmp_path, expert_sharing=sharing,
                             confounder_as_content=sharing != "embedded")
    loss = model.calculate_loss(batch)
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.experts.parameters())


def test_penalty_enters_the_training_loss(tiny_dataset, tmp_path):
    model, batch, _ = _model(tiny_dataset, tmp_path, expert_sharing="pull", expert_pull=10.0,
                             confounder_as_content=False)  # (its side logit's loss: below)
    with torch.no_grad():
        for p in model.experts.parameters():
            p.add_(0.3 * torch.randn_like(p))
    data_term = model.loss(model.forward(batch), batch[model.LABEL])
    torch.testing.assert_close(model.calculate_loss(batch), data_term + model.experts.penalty())


def test_unknown_sharing_names_the_choices(tiny_dataset, tmp_path):
    with pytest.raises(ValueError, match=r"expert_sharing must be one of .*did you mean heads"):
        _model(tiny_dataset, tmp_path, expert_sharing="head")


def test_embedded_value_enters_the_bi_interaction_as_one_more_field(tiny_dataset, tmp_path):
    """m + e_a ⊙ Σ_j e_j is NFM's bi-interaction pooling with A's embedding among the fields."""
    model, batch, _ = _model(tiny_dataset, tmp_path, expert_sharing="embedded", confounder_as_content=False)
    with torch.no_grad():
        model.experts.value_embedding.weight.normal_()
        embeddings = model.concat_embed_input_fields(batch)
        index = model.confounder_index(batch)
        with_a = torch.cat([embeddings, model.experts.value_embedding(index).unsqueeze(1)], dim=1)
        pooled = 0.5 * (with_a.sum(1) ** 2 - (with_a ** 2).sum(1))
        shifted = model.experts._shift(model.matching(batch), model.experts.value_embedding(index), embeddings.sum(1))
    torch.testing.assert_close(shifted, pooled, rtol=1e-4, atol=1e-6)


def test_embedded_needs_the_nfm_backbone(tiny_dataset, tmp_path):
    with pytest.raises(ValueError, match="expert_sharing: embedded .* needs backbone: NFM"):
        _model(tiny_dataset, tmp_path, expert_sharing="embedded", backbone="FM", confounder_as_content=False)


@pytest.mark.parametrize("backbone", ["NFM", "FM"])
def test_confounder_as_content_puts_the_items_own_value_into_the_backbone(tiny_dataset, tmp_path, backbone):
    """m reads the row's A only with confounder_as_content; without it, as in the paper's DCR-MoE, never."""
    for as_content in (False, True):
        model, batch, _ = _model(tiny_dataset, tmp_path, confounder_as_content=as_content, backbone=backbone)
        other = Interaction(dict(batch.interaction))
        other[model.CONFOUNDER] = batch[model.CONFOUNDER] % model.num_confounder_values + 1  # another value
        with torch.no_grad():
            for module in model.modules():  # N(0, 1e-4) rows would hide the change
                if isinstance(module, torch.nn.Embedding):
                    module.weight.normal_()
            moved = (model.matching(batch) - model.matching(other)).abs().max()
        assert bool(moved > 0) == as_content


@pytest.mark.parametrize("form, side_input", [("deep", "bias"), ("additive", "bias"), ("deep", "embedding")])
def test_confounder_as_content_ranks_by_the_exact_sum_over_the_intervened_value(tiny_dataset, tmp_path, form,
                                                                                side_input):
    """predict = Σ_a P(a)·σ(expert_a(m) + first order + tanh(s_a)), m with the item's own a held fixed;
    the training logit is the same function at the row's own a; the side logit's BCE is in the loss."""
    model, batch, _ = _model(tiny_dataset, tmp_path, confounder_as_content=True, side_alpha=0.5,
                             confounder_content_form=form, confounder_content_dropout=0.0, side_input=side_input)
    with torch.no_grad():
        for p in (model.side.parameters() if side_input == "bias" else model.side_mlp.parameters()):
            p.normal_()
        for p in model.experts.parameters():
            p.add_(0.3 * torch.randn_like(p))
    model.eval()
    with torch.no_grad():
        h, added = model.expert_input(batch)
        every = model.experts(h) + torch.tanh(model.side_values()) + added.unsqueeze(-1)
        expected = torch.sigmoid(every) @ model.confounder_prior
        torch.testing.assert_close(model.predict(batch), expected, rtol=1e-5, atol=1e-6)
        own = model.confounder_index(batch)
        torch.testing.assert_close(model.forward(batch), every[torch.arange(len(own)), own], rtol=1e-5, atol=1e-5)
    model.train()
    label = batch[model.LABEL]
    side_term = 0.5 * model.loss(model.side_values()[model.confounder_index(batch)], label)
    expected_loss = model.loss(model.forward(batch), label) + side_term + model.experts.penalty()
    torch.testing.assert_close(model.calculate_loss(batch), expected_loss)


def test_side_input_embedding_reads_the_rows_the_backbone_reads(tiny_dataset, tmp_path):
    """side_input: embedding: s_a = MLP(A's embedding row), the row the backbone reads as the item's own A,
    so the side logit's own loss trains that row; ``bias`` keeps s_a a free number per value."""
    model, batch, _ = _model(tiny_dataset, tmp_path, side_input="embedding", confounder_content_dropout=0.0)
    assert not hasattr(model, "side")
    rows = _confounder_rows(model)
    with torch.no_grad():
        expected = model.side_mlp(model.token_embedding_table.embedding.weight[rows])[:, 0]
    torch.testing.assert_close(model.side_values(), expected)
    model.zero_grad()
    model.loss(model.side_values()[model.confounder_index(batch)], batch[model.LABEL]).backward()
    grad = model.token_embedding_table.embedding.weight.grad
    grad = grad.to_dense() if grad.is_sparse else grad
    assert grad[rows].abs().sum() > 0
    assert grad.abs().sum() == grad[rows].abs().sum()  # no other field's rows
    with pytest.raises(ValueError, match="side_input must be one of bias, embedding"):
        _model(tiny_dataset, tmp_path, side_input="mlp")


def test_confounder_as_content_and_embedded_experts_exclude_each_other(tiny_dataset, tmp_path):
    with pytest.raises(ValueError, match="set confounder_as_content: False"):
        _model(tiny_dataset, tmp_path, confounder_as_content=True, expert_sharing="embedded")
    _model(tiny_dataset, tmp_path, confounder_as_content=False, expert_sharing="embedded")


def test_the_paper_preset_keeps_a_out_of_the_backbone():
    from recbole_dcr.model.experts import PAPER_EXPERTS
    assert PAPER_EXPERTS == {"expert_sharing": "separate", "confounder_as_content": False}


@pytest.mark.parametrize("backbone", ["NFM", "DeepFM"])
def test_without_its_own_first_order_weight_the_items_a_adds_no_bias(tiny_dataset, tmp_path, backbone):
    """confounder_first_order: False: the first-order term is the same whatever the row's A, and A's
    first-order rows get no gradient; with True (and in NFMWA) the row's A moves it."""
    for own in (True, False):
        model, batch, _ = _model(tiny_dataset, tmp_path, backbone=backbone, confounder_first_order=own)
        other = Interaction(dict(batch.interaction))
        other[model.CONFOUNDER] = batch[model.CONFOUNDER] % model.num_confounder_values + 1
        with torch.no_grad():
            model.first_order_linear.token_embedding_table.embedding.weight.normal_()
        moved = (model.first_order(batch) - model.first_order(other)).abs().max()
        assert bool(moved > 1e-6) == own
        model.first_order(batch).sum().backward()
        table = model.first_order_linear.token_embedding_table
        grad = table.embedding.weight.grad.abs().sum(-1)
        slot = model.first_order_linear.token_field_names.index(model.CONFOUNDER)
        rows = batch[model.CONFOUNDER].long().unique() + int(table.offsets[slot])
        assert bool(grad[rows].sum() > 0) == own
        assert bool(grad.sum() > 0)  # the other fields still learn


def test_side_activation_identity_adds_s_a_itself(tiny_dataset, tmp_path):
    model, batch, _ = _model(tiny_dataset, tmp_path, side_activation="identity")
    with torch.no_grad():
        model.side.bias.normal_(0, 3)
    torch.testing.assert_close(model.side_logit(), model.side.bias)
    with pytest.raises(ValueError, match="side_activation must be one of tanh, identity"):
        _model(tiny_dataset, tmp_path, side_activation="relu")


def test_content_dropout_leaves_the_items_own_a_out_for_some_training_rows(tiny_dataset, tmp_path):
    """confounder_content_dropout: in training, a dropped row's logit equals that of a model whose backbone
    never reads A's embedding or first-order weight; kept rows and inference are untouched."""
    model, batch, _ = _model(tiny_dataset, tmp_path, confounder_content_dropout=0.5)
    with torch.no_grad():
        for module in model.modules():  # N(0, 1e-4) rows would hide the difference
            if isinstance(module, torch.nn.Embedding):
                module.weight.normal_()
        model.eval()
        full = model.forward(batch)
        model.train()
        torch.manual_seed(5)
        trained = model.forward(batch)
        torch.manual_seed(5)
        kept = (torch.rand(len(full)) >= 0.5)
        slot = model.confounder_slot()
        table, fo_slot = model.first_order_linear.token_embedding_table, \
            model.first_order_linear.token_field_names.index(model.CONFOUNDER)
        saved_embedding = model.token_embedding_table.embedding.weight.clone()
        saved_first_order = table.embedding.weight.clone()
        a_rows = torch.arange(1, model.num_confounder_values + 1)
        model.token_embedding_table.embedding.weight[a_rows + int(model.token_embedding_table.offsets[slot])] = 0
        table.embedding.weight[a_rows + int(table.offsets[fo_slot])] = 0
        model.eval()
        without_a = model.forward(batch)
        model.token_embedding_table.embedding.weight.copy_(saved_embedding)
        table.embedding.weight.copy_(saved_first_order)
    assert 0 < int(kept.sum()) < len(kept)
    torch.testing.assert_close(trained[kept], full[kept], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(trained[~kept], without_a[~kept], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(full[~kept], without_a[~kept])
    model.calculate_loss(batch).backward()  # trains through the mask


def test_content_dropout_applies_where_the_nfm_backbone_reads_the_items_own_a(tiny_dataset, tmp_path, caplog):
    """Without confounder_as_content (the paper's preset) there is nothing to leave out; a RecBole backbone
    reads the item's own A in every row and says so; a share outside [0, 1) is an error."""
    paper, _, _ = _model(tiny_dataset, tmp_path, confounder_content_dropout=0.5, expert_sharing="separate",
                         confounder_as_content=False)
    assert paper.content_dropout == 0.0
    with caplog.at_level("WARNING"):
        other, _, _ = _model(tiny_dataset, tmp_path, confounder_content_dropout=0.5, backbone="FM")
    assert other.content_dropout == 0.0 and "NFM backbone only" in caplog.text
    nfm, _, _ = _model(tiny_dataset, tmp_path, confounder_content_dropout=0.5)
    assert nfm.content_dropout == 0.5
    with pytest.raises(ValueError, match=r"must be in \[0, 1\)"):
        _model(tiny_dataset, tmp_path, confounder_content_dropout=1.5)


def _confounder_rows(model):
    """The embedding rows of the item's own A, values 1..K (0 is padding)."""
    offset = int(model.token_embedding_table.offsets[model.confounder_slot()])
    return torch.arange(1, model.num_confounder_values + 1) + offset


def test_additive_content_keeps_the_items_own_a_out_of_the_mlps(tiny_dataset, tmp_path):
    """confounder_content_form: additive: what the MLPs read does not move with the item's own A's embedding,
    and the logit is affine in that embedding (its pairwise products through one linear map); ``deep`` is not."""
    logits = {}
    for form in ("deep", "additive"):
        model, batch, _ = _model(tiny_dataset, tmp_path, confounder_content_form=form, confounder_content_dropout=0.0)
        assert model.additive_content == (form == "additive")
        model.eval()
        table = model.token_embedding_table.embedding.weight
        rows, results = _confounder_rows(model), []
        with torch.no_grad():
            for module in model.modules():  # N(0, 1e-4) rows would hide the difference
                if isinstance(module, torch.nn.Embedding):
                    module.weight.normal_()
            one, two = torch.randn(len(rows), table.shape[1]), torch.randn(len(rows), table.shape[1])
            for rows_value in (torch.zeros_like(one), one, two, one + two):
                table[rows] = rows_value
                results.append((model.expert_input(batch)[0], model.forward(batch)))
        (h0, f0), (h1, f1), (h2, f2), (h12, f12) = results
        logits[form] = (f1 + f2 - f0 - f12).abs().max()
        if form == "additive":
            torch.testing.assert_close(h1, h0)
            torch.testing.assert_close(h12, h0)
        else:
            assert not torch.allclose(h1, h0)
    assert logits["additive"] < 1e-4 < logits["deep"]


def test_additive_content_trains_and_drops_with_the_content_dropout(tiny_dataset, tmp_path):
    """A dropped training row's logit is that of the row without the item's own A (its embedding and weight)."""
    model, batch, _ = _model(tiny_dataset, tmp_path, confounder_content_form="additive",
                             confounder_content_dropout=0.5)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Embedding):
                module.weight.normal_()
        torch.manual_seed(5)
        model.train()
        trained = model.forward(batch)
        torch.manual_seed(5)
        kept = torch.rand(len(trained)) >= 0.5
        model.eval()
        full = model.forward(batch)
        model.token_embedding_table.embedding.weight[_confounder_rows(model)] = 0
        table = model.first_order_linear.token_embedding_table
        slot = model.first_order_linear.token_field_names.index(model.CONFOUNDER)
        table.embedding.weight[torch.arange(1, model.num_confounder_values + 1) + int(table.offsets[slot])] = 0
        without_a = model.forward(batch)
    torch.testing.assert_close(trained[kept], full[kept], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(trained[~kept], without_a[~kept], rtol=1e-5, atol=1e-5)
    loss = model.calculate_loss(batch)
    loss.backward()
    assert model.content_pairs.weight.grad is not None and torch.isfinite(loss)


def test_content_form_is_checked_and_applies_to_the_nfm_backbone(tiny_dataset, tmp_path, caplog):
    with pytest.raises(ValueError, match="confounder_content_form must be one of deep, additive"):
        _model(tiny_dataset, tmp_path, confounder_content_form="linear")
    paper, _, _ = _model(tiny_dataset, tmp_path, confounder_content_form="additive", confounder_as_content=False,
                         expert_sharing="separate")
    assert not paper.additive_content and not hasattr(paper, "content_pairs")
    with caplog.at_level("WARNING"):
        other, _, _ = _model(tiny_dataset, tmp_path, confounder_content_form="additive", backbone="FM")
    assert not other.additive_content and "additive applies to the built-in NFM backbone only" in caplog.text


def test_dcrmoe_nests_cr(tiny_dataset, tmp_path):
    """With CR's side branch (side_input: embedding), no content dropout and the per-value MLPs at zero,
    DCR-MoE is CR's model: with CR's weights it has CR's training loss, and the exact sum orders each
    row's items as CR's main branch does (Σ_a P(a)·σ(z + c_a) is increasing in z)."""
    cr, batch, _ = _model(tiny_dataset, tmp_path, model="CR", confounder_content_dropout=0.0, alpha=1.0,
                          mlp_hidden_size=[16, 8], side_mlp_hidden_size=[16, 8])
    moe, _, _ = _model(tiny_dataset, tmp_path, side_input="embedding", confounder_content_dropout=0.0,
                       residual_weight_decay=0.0, side_alpha=1.0, side_hidden_size=[16, 8])
    with torch.no_grad():
        for module in cr.modules():  # away from the N(0, 1e-4) start, so that every term counts
            if isinstance(module, torch.nn.Embedding):
                module.weight.normal_()
        moe.token_embedding_table.embedding.weight.copy_(cr.token_embedding_table.embedding.weight)
        moe.first_order_linear.load_state_dict(cr.first_order_linear.state_dict())
        for i, (w, b) in enumerate(zip(cr.mlp.weights, cr.mlp.biases)):
            moe.experts.shared.weights[i].copy_(w[0])
            moe.experts.shared.biases[i].copy_(b[0])
        moe.side_mlp.load_state_dict(cr.side.state_dict())
        for p in moe.experts.residual.parameters():
            p.zero_()
        torch.testing.assert_close(moe.calculate_loss(batch), cr.calculate_loss(batch))
        cr.eval()
        moe.eval()
        main, summed = cr.predict(batch), moe.predict(batch)
    order = torch.argsort(main)
    assert torch.all(summed[order][1:] >= summed[order][:-1] - 1e-6)  # the same order of the rows
    assert not torch.allclose(main, summed)  # (different numbers: the sum is not CR's main branch itself)


def test_content_inference_do_sets_the_items_own_a_to_the_intervened_value(tiny_dataset, tmp_path):
    """confounder_content_inference: do ranks by Σ_a P(a)·f(u, x, a) with the backbone reading a as the item's
    A too: the training logit of each row with its A set to a; ``item`` (the default) holds the own A fixed."""
    scores = {}
    for inference in ("item", "do"):
        model, batch, _ = _model(tiny_dataset, tmp_path, confounder_content_inference=inference)
        assert model.enumerate_content == (inference == "do")
        with torch.no_grad():
            for module in model.modules():  # N(0, 1e-4) rows would hide the difference
                if isinstance(module, torch.nn.Embedding):
                    module.weight.normal_()
            model.side.bias.normal_()
        model.eval()
        with torch.no_grad():
            scores[inference] = model.predict(batch)
            if inference == "do":
                forced = [torch.sigmoid(model.forward(with_confounder(batch, model.CONFOUNDER, a)))
                          for a in range(model.num_confounder_values)]
                expected = torch.stack(forced, dim=1) @ model.confounder_prior
                torch.testing.assert_close(scores["do"], expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(scores["item"], scores["do"])
    with pytest.raises(ValueError, match="confounder_content_inference must be one of item, do"):
        _model(tiny_dataset, tmp_path, confounder_content_inference="observed")
    paper, _, _ = _model(tiny_dataset, tmp_path, confounder_content_inference="do", confounder_as_content=False,
                         expert_sharing="separate")
    assert not paper.enumerate_content  # the backbone reads no A: nothing to set
