"""Sparse embedding tables: only the rows a batch reads move, with the L2 term on those rows."""

import pytest
import torch
from torch import nn

from recbole_dcr.data import create_dataset, data_preparation
from recbole_dcr.quick_start import train_and_test
from recbole_dcr.registry import get_model, get_trainer
from tests.conftest import tiny_config


def _trainer(tiny_dataset, tmp_path, **overrides):
    data_path, _, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path, sparse_embeddings=True, train_batch_size=16, **overrides)
    train, valid, test = data_preparation(config, create_dataset(config))
    model = get_model(config["model"])(config, train._dataset)
    return config, model, get_trainer(config["MODEL_TYPE"], config["model"])(config, model), train


def test_only_the_rows_a_batch_reads_move(tiny_dataset, tmp_path):
    config, model, trainer, train = _trainer(tiny_dataset, tmp_path, embedding_weight_decay=1e-2)
    table = model.token_embedding_table.embedding
    assert table.sparse and trainer.optimizer.param_groups[0]["weight_decay"] == 0.0  # L2 is in the loss
    batch = next(iter(train))
    before = table.weight.detach().clone()
    model.train()
    trainer.optimizer.zero_grad()
    loss = model.calculate_loss(batch)
    penalty = trainer.sparse_embeddings.penalty()
    read = torch.unique(torch.cat([batch[f].long() + int(off) for f, off in
                                   zip(model.token_field_names, model.token_embedding_table.offsets)]))
    first_order = model.first_order_linear.token_embedding_table.embedding.weight.detach()  # same rows, 1 dim
    # λ·Σ‖e‖² over the rows read, each once, in both tables (sum loss: coefficient λ)
    expected = 1e-2 * (before[read].pow(2).sum() + first_order[read].pow(2).sum())
    torch.testing.assert_close(penalty, expected, rtol=1e-5, atol=1e-12)
    (loss + penalty).backward()
    assert table.weight.grad.is_sparse
    trainer.optimizer.step()
    moved = (table.weight.detach() != before).any(dim=1)
    assert set(torch.nonzero(moved).flatten().tolist()) <= set(read.tolist())
    assert moved.sum() > 0


def test_sparse_training_runs_end_to_end(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data_path, _, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path, sparse_embeddings=True, epochs=2)
    result, trainer, _ = train_and_test(config, verbose=False)
    assert 0 <= result["test_result"]["ndcg@3"] <= 1
    assert all(m.sparse for m in trainer.model.modules() if isinstance(m, nn.Embedding))


def test_a_learner_without_sparse_gradients_is_refused(tiny_dataset, tmp_path):
    with pytest.raises(ValueError, match="sparse_embeddings: True needs a learner .*adagrad, sgd.*not adam"):
        _trainer(tiny_dataset, tmp_path, learner="adam")
