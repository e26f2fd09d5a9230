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


def _lookup_gradients(table, indices, coefficient):
    """(this module's gradient, torch's sparse lookup + L2 lookup's gradient) of one step, dense."""
    from recbole_dcr.sparse_embeddings import SparseEmbeddings

    reference = nn.Embedding.from_pretrained(table.weight.detach().clone(), freeze=False, sparse=True)
    upstream = torch.randn(*indices.shape, table.embedding_dim)
    rows = torch.unique(indices)
    ((reference(indices) * upstream).sum() + coefficient * reference(rows).pow(2).sum()).backward()
    holder = nn.Module()
    holder.table = table
    sparse = SparseEmbeddings(holder, coefficient)
    holder.train()
    output = holder.table(indices)
    penalty = sparse.penalty()
    torch.testing.assert_close(penalty, coefficient * table.weight[rows].pow(2).sum().detach())
    ((output * upstream).sum() + penalty).backward()
    return holder.table.weight.grad, reference.weight.grad.to_dense()


def test_a_lookup_gradient_is_torch_s_summed_on_the_rows_read():
    torch.manual_seed(0)
    indices = torch.randint(0, 50, (64, 3))  # repeated rows: their gradients are summed
    gradient, expected = _lookup_gradients(nn.Embedding(50, 4), indices, coefficient=0.3)
    assert gradient.is_sparse and gradient.is_coalesced()  # the optimizer has nothing to sort
    assert gradient._nnz() == len(torch.unique(indices))
    torch.testing.assert_close(gradient.to_dense(), expected, rtol=1e-6, atol=1e-7)


def test_a_table_read_twice_in_a_step_is_penalised_once_per_row():
    from recbole_dcr.sparse_embeddings import SparseEmbeddings

    torch.manual_seed(1)
    holder = nn.Module()
    holder.table = nn.Embedding(30, 2)
    reference = nn.Embedding.from_pretrained(holder.table.weight.detach().clone(), freeze=False, sparse=True)
    first, second = torch.randint(0, 30, (20,)), torch.randint(0, 30, (20,))
    rows = torch.unique(torch.cat([first, second]))
    (reference(first).sum() + 2 * reference(second).sum() + 0.5 * reference(rows).pow(2).sum()).backward()
    sparse = SparseEmbeddings(holder, 0.5)
    holder.train()
    loss = holder.table(first).sum() + 2 * holder.table(second).sum()
    (loss + sparse.penalty()).backward()
    torch.testing.assert_close(holder.table.weight.grad.to_dense(), reference.weight.grad.to_dense())


def test_row_sparse_adagrad_steps_as_torch_s_adagrad():
    from recbole_dcr.sparse_embeddings import RowSparseAdagrad

    torch.manual_seed(2)
    ours, dense_ours = torch.randn(40, 3, requires_grad=True), torch.randn(5, requires_grad=True)
    theirs, dense_theirs = (t.detach().clone().requires_grad_(True) for t in (ours, dense_ours))
    options = {"lr": 0.05, "lr_decay": 0.01, "initial_accumulator_value": 0.1, "eps": 1e-10}
    groups = lambda table, dense: [{"params": [table]}, {"params": [dense], "weight_decay": 0.01}]
    optimizers = RowSparseAdagrad(groups(ours, dense_ours), **options), torch.optim.Adagrad(
        groups(theirs, dense_theirs), **options)
    for step in range(4):
        rows = torch.unique(torch.randint(0, 40, (15,)))
        values, dense_grad = torch.randn(len(rows), 3), torch.randn(5)
        for table, dense, optimizer in zip((ours, theirs), (dense_ours, dense_theirs), optimizers):
            table.grad = torch.sparse_coo_tensor(rows[None], values, (40, 3), check_invariants=True).coalesce()
            dense.grad = dense_grad.clone()
            optimizer.step()
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-7)
        torch.testing.assert_close(dense_ours, dense_theirs, rtol=0, atol=0)
    # torch's state layout: a checkpoint of one loads into the other
    optimizers[1].load_state_dict(optimizers[0].state_dict())
    torch.testing.assert_close(optimizers[1].state[theirs]["sum"], optimizers[0].state[ours]["sum"])


def test_sparse_tables_train_with_row_sparse_adagrad(tiny_dataset, tmp_path):
    from recbole_dcr.sparse_embeddings import RowSparseAdagrad

    config, model, trainer, train = _trainer(tiny_dataset, tmp_path, embedding_weight_decay=1e-2)
    assert type(trainer.optimizer) is RowSparseAdagrad
    assert type(_trainer(tiny_dataset, tmp_path, learner="sgd")[2].optimizer) is torch.optim.SGD
