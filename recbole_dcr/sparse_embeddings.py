"""Embedding tables updated only where a batch reads them (``sparse_embeddings: True``).

With dense gradients, Adagrad updates every row of every table at every step, because the L2 term
λ‖E‖² (or weight decay) gives every row a gradient: at Kwai's 422k items that is most of an
epoch's time.  Here the tables produce sparse gradients, and the L2 term covers the rows the batch
uses, each once: λ·Σ_{rows in the batch} ‖e‖² (RecBole's convention for embedding L2, without its
per-occurrence counting), so a row is regularised in proportion to how often it is read rather than
at every step.  torch's Adagrad and SGD take sparse gradients; Adam does not (SparseAdam would).
"""

import torch
import torch.nn.functional as F
from torch import nn

SPARSE_LEARNERS = ("adagrad", "sgd")


class _RowsRead(torch.autograd.Function):
    """An embedding lookup whose weight gradient is one coalesced sparse tensor over the rows it read.

    torch's own sparse lookup returns one gradient row per occurrence, which Adagrad then sorts and sums
    (``coalesce``) and which the separate L2 lookup doubles: at Kwai size those were a quarter of a step.
    Here the batch's distinct rows are found once, in the forward pass, and the gradient is summed onto
    them; ``read.l2`` (set by :meth:`SparseEmbeddings.penalty`) adds the L2 term's gradient 2c·e there too.
    """

    @staticmethod
    def forward(ctx, weight, rows, inverse, read):
        read.rows, read.used = rows, weight.index_select(0, rows)
        ctx.read, ctx.shape = read, weight.shape
        ctx.save_for_backward(inverse)
        return F.embedding(inverse, read.used)

    @staticmethod
    def backward(ctx, grad):
        (inverse,) = ctx.saved_tensors
        read = ctx.read
        values = torch.zeros_like(read.used).index_add_(0, inverse.reshape(-1), grad.reshape(-1, grad.shape[-1]))
        if read.l2:
            values.add_(read.used, alpha=read.l2)
        if read.padding_idx is not None:  # as nn.Embedding: the padding row never moves
            values[read.rows == read.padding_idx] = 0
        gradient = torch.sparse_coo_tensor(read.rows.unsqueeze(0), values, ctx.shape, is_coalesced=True,
                                           check_invariants=False)
        return gradient, None, None, None


class _Read:
    """One lookup of a table in the current step: its distinct rows, their values, the L2 gradient scale."""

    def __init__(self, padding_idx):
        self.rows = self.used = None
        self.l2, self.padding_idx = 0.0, padding_idx


class RowSparseEmbedding(nn.Embedding):
    """nn.Embedding whose training lookups go through ``_RowsRead`` (same values, same gradients)
    and are reported to ``recorder``; it shares the weight (the same Parameter) of the table it replaces."""

    def __init__(self, table, recorder):
        super().__init__(table.num_embeddings, table.embedding_dim, padding_idx=table.padding_idx, sparse=True,
                         _weight=table.weight)
        self.weight = table.weight
        self.recorder = recorder
        self.last_read = None
        self.train(table.training)
        # autograd stores a sparse gradient as a copy that forgets it is coalesced; marking it again
        # spares the optimizer a sort of every row read (only when the gradient is this one lookup's)
        self.weight.register_post_accumulate_grad_hook(self._keep_coalesced)

    def _keep_coalesced(self, weight):
        read, grad = self.last_read, weight.grad
        if read is not None and grad.is_sparse and grad._nnz() == len(read.rows) \
                and grad._indices().data_ptr() == read.rows.data_ptr():
            grad._coalesced_(True)
        self.last_read = None

    def forward(self, indices):
        if not (self.training and torch.is_grad_enabled() and self.weight.requires_grad):
            return F.embedding(indices, self.weight, self.padding_idx, sparse=True)
        read = self.last_read = _Read(self.padding_idx)
        self.recorder.record(self, read)
        return _RowsRead.apply(self.weight, *self.recorder.distinct(indices), read)


class SparseEmbeddings:
    """Switches a model's ``nn.Embedding`` tables to sparse gradients and computes the L2 term of a batch.

    ``coefficient`` multiplies Σ‖e‖² over the batch's rows (λ for a summed loss, λ/2 for torch's
    weight decay λ on a mean loss, see :meth:`recbole_dcr.trainer.DCRTrainer.l2_scale`). Each table is
    replaced in its parent module by a :class:`RowSparseEmbedding` over the same weight.
    """

    def __init__(self, model, coefficient, min_rows=0):
        self.coefficient = coefficient
        self.read = {}  # id(table) -> (table, [its _Read of the current step])
        self._last_distinct = None
        self.tables = []
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                # a table with fewer rows than a batch gains nothing: a batch reads nearly all of it anyway
                # (it keeps dense gradients and the optimizer's L2, see DCRTrainer._l2_groups)
                if isinstance(child, RowSparseEmbedding):  # a second trainer over the same model
                    child.recorder = self
                    self.tables.append(child)
                elif type(child) is nn.Embedding and child.num_embeddings >= min_rows and child.max_norm is None \
                        and not child.scale_grad_by_freq:
                    table = RowSparseEmbedding(child, self)
                    setattr(parent, name, table)
                    self.tables.append(table)

    def distinct(self, indices):
        """(the distinct rows of ``indices``, each index's place among them); the item table and its
        first-order weights read the same indices, so the last answer is kept for the next table."""
        last = self._last_distinct
        if last is None or last[0].shape != indices.shape or not torch.equal(last[0], indices):
            rows, inverse = torch.unique(indices.reshape(-1), return_inverse=True)
            last = self._last_distinct = (indices, rows, inverse.view(indices.shape))
        return last[1], last[2]

    def record(self, table, read):
        if self.coefficient:
            self.read.setdefault(id(table), (table, []))[1].append(read)

    def penalty(self):
        """coefficient · Σ over tables of ‖the rows read since the last call‖² (each row once).

        A table read once in the step gets the term's gradient inside its own sparse gradient
        (``_Read.l2``), so the term returned carries no graph for it; a table read more than once gets a
        lookup of the union of its rows (torch then adds the sparse gradients).
        """
        total = None
        for table, reads in self.read.values():
            if len(reads) == 1:
                reads[0].l2 = 2.0 * self.coefficient
                term = self.coefficient * reads[0].used.pow(2).sum()
            else:
                rows = torch.unique(torch.cat([read.rows for read in reads]))
                term = self.coefficient * F.embedding(rows, table.weight, sparse=True).pow(2).sum()
            total = term if total is None else total + term
        self.read.clear()
        return total


class RowSparseAdagrad(torch.optim.Adagrad):
    """torch's Adagrad, with a coalesced sparse gradient's update done on its rows only.

    The update is torch's (sum += g², w -= lr·g / (√sum + eps)), as a few row gathers and scatters: torch's
    own sparse path rebuilds sparse tensors and re-adds them to the dense state, three passes that cost
    more than the model's products at Kwai size. The rows must be distinct (a coalesced gradient). The state (``sum``, ``step``) is torch's, so an
    optimizer checkpoint loads either way.
    """

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        rows_updated = []
        for group in self.param_groups:
            if group["weight_decay"] or group["maximize"] or group["differentiable"]:
                continue  # torch refuses or handles these itself
            for param in group["params"]:
                grad = param.grad
                if grad is not None and grad.is_sparse and grad.is_coalesced() and not param.is_complex():
                    rows_updated.append((group, param, grad))
                    param.grad = None  # hidden from torch's step below, which updates everything else
        super().step()
        for group, param, grad in rows_updated:
            self._update_rows(group, param, grad)
            param.grad = grad
        return loss

    def _update_rows(self, group, param, grad):
        state = self.state[param]
        if not state:
            state["step"] = torch.tensor(0.0)
            state["sum"] = torch.full_like(param, self.defaults["initial_accumulator_value"])
        state["step"] += 1
        clr = group["lr"] / (1 + (state["step"].item() - 1) * group["lr_decay"])
        rows, values = grad._indices()[0], grad._values()
        total = state["sum"].index_select(0, rows).add_(values.pow(2))
        state["sum"].index_copy_(0, rows, total)
        # the rows are distinct: a gather and a scatter (index_add_ runs one row at a time on a CPU)
        moved = param.index_select(0, rows).add_(values / total.sqrt_().add_(group["eps"]), alpha=-clr)
        param.index_copy_(0, rows, moved)
