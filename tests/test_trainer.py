"""Weights-only checkpoints: best-model reload, resume, refusal of foreign files; L2 groups."""

import pytest
import torch

from recbole_dcr.checkpoint import load_checkpoint
from recbole_dcr.trainer import DCRTrainer
from recbole_dcr.data import create_dataset, data_preparation
from recbole_dcr.registry import get_model, get_trainer
from tests.conftest import tiny_config


def _setup(tiny_dataset, tmp_path, **overrides):
    data_path, _, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path, **overrides)
    train, valid, test = data_preparation(config, create_dataset(config))
    torch.manual_seed(0)
    model = get_model(config["model"])(config, train._dataset)
    return config, model, get_trainer(config["MODEL_TYPE"], config["model"])(config, model), (train, valid, test)


def test_best_model_reload_and_weights_only_checkpoint(tiny_dataset, tmp_path):
    config, model, trainer, (train, valid, test) = _setup(tiny_dataset, tmp_path, epochs=3)
    _, best_valid = trainer.fit(train, valid, saved=True)
    raw = torch.load(trainer.saved_model_file, weights_only=True)  # what torch >= 2.6 does by default
    assert raw["model"] == "DCRMoE" and raw["dataset"] == "tiny" and "confounder_prior" in raw["state_dict"]
    # training went on after the best epoch or not: reloading the best weights reproduces its valid result
    assert trainer.evaluate(valid, load_best_model=True) == best_valid
    assert trainer.evaluate(test, load_best_model=True)["ndcg@3"] >= 0


def test_resume_restores_weights_optimizer_and_epoch(tiny_dataset, tmp_path):
    config, model, trainer, (train, valid, _) = _setup(tiny_dataset, tmp_path, epochs=2, eval_step=0)
    trainer.fit(train, valid, saved=True)
    _, fresh_model, fresh_trainer, _ = _setup(tiny_dataset, tmp_path, epochs=4, eval_step=0)
    fresh_trainer.resume_checkpoint(trainer.saved_model_file)
    assert fresh_trainer.start_epoch == 2
    for key, value in model.state_dict().items():
        torch.testing.assert_close(fresh_model.state_dict()[key], value)
    assert fresh_trainer.optimizer.state_dict()["state"].keys() == trainer.optimizer.state_dict()["state"].keys()
    fresh_trainer.fit(train, valid, saved=True)  # goes on from epoch 2 without error


def test_resume_from_another_model_is_refused(tiny_dataset, tmp_path):
    _, _, trainer, (train, valid, _) = _setup(tiny_dataset, tmp_path, epochs=1, eval_step=0)
    trainer.fit(train, valid, saved=True)
    _, _, other, _ = _setup(tiny_dataset, tmp_path, model="NFMWA")
    with pytest.raises(ValueError, match="holds DCRMoE on tiny, not NFMWA on tiny"):
        other.resume_checkpoint(trainer.saved_model_file)


def test_runs_started_in_the_same_second_write_their_own_checkpoints(tiny_dataset, tmp_path, monkeypatch):
    """Two runs of one model in one folder, started in the same second, write their own best-model files."""
    monkeypatch.setattr("recbole_dcr.compat.get_local_time", lambda: "Dec-07-2026_17-21-52")
    config, model, first, _ = _setup(tiny_dataset, tmp_path)
    second = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    assert first.saved_model_file != second.saved_model_file
    assert "DCRMoE-Dec-07-2026_17-21-52-" in first.saved_model_file


def test_recbole_pickled_checkpoint_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "foreign.pth"
    torch.save({"state_dict": {}, "epoch": 1}, path)
    with pytest.raises(ValueError, match="not a recbole_dcr checkpoint"):
        load_checkpoint(path)


def test_embeddings_and_other_weights_get_their_own_l2_and_biases_none(tiny_dataset, tmp_path):
    _, model, trainer, _ = _setup(tiny_dataset, tmp_path, weight_decay=1e-3, embedding_weight_decay=1e-5,
                                  matching_batch_norm=True)
    embedding_group, weight_group, free_group = trainer.optimizer.param_groups
    # a summed loss Σ BCE + λ‖W‖² has the gradient 2λW: torch's weight decay 2λ
    assert model.loss_reduction == "sum"
    assert embedding_group["weight_decay"] == 2e-5 and weight_group["weight_decay"] == 2e-3
    assert free_group["weight_decay"] == 0.0
    embedding_ids = {id(p) for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()}
    assert {id(p) for p in embedding_group["params"]} == embedding_ids
    free = {id(p) for p in free_group["params"]}
    experts = dict(model.experts.named_parameters())  # the shared MLP's and the per-value MLPs'
    assert any(name.startswith("residual.") for name in experts)
    assert all(id(p) in free for p in model.bn.parameters())
    assert all(id(b) in free for name, b in experts.items() if "bias" in name)
    assert all(id(w) in {id(p) for p in weight_group["params"]} for name, w in experts.items() if "weights" in name)
    assert sum(len(group["params"]) for group in trainer.optimizer.param_groups) == len(list(model.parameters()))
    assert isinstance(trainer, DCRTrainer) and isinstance(trainer.optimizer, torch.optim.Adagrad)


def test_a_mean_loss_takes_the_coefficients_as_torch_weight_decay(tiny_dataset, tmp_path):
    _, model, trainer, _ = _setup(tiny_dataset, tmp_path, weight_decay=1e-3, embedding_weight_decay=1e-5,
                                  loss_reduction="mean")
    embedding_group, weight_group, _ = trainer.optimizer.param_groups
    assert embedding_group["weight_decay"] == 1e-5 and weight_group["weight_decay"] == 1e-3
