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


class SparseEmbeddings:
    """Switches a model's ``nn.Embedding`` tables to sparse gradients and computes the L2 term of a batch.

    ``coefficient`` multiplies Σ‖e‖² over the batch's rows (λ for a summed loss, λ/2 for torch's
    weight decay λ on a mean loss, see :meth:`recbole_dcr.trainer.DCRTrainer.l2_scale`).
    """

    def __init__(self, model, coefficient, min_rows=0):
        self.coefficient = coefficient
        # a table with fewer rows than a batch gains nothing: a batch reads nearly all of it anyway (it
        # keeps dense gradients and the optimizer's L2, see DCRTrainer._l2_groups)
        self.tables = [module for module in model.modules()
                       if isinstance(module, nn.Embedding) and module.num_embeddings >= min_rows]
        self.read = {}  # id(table) -> (table, [index tensors]) of the current batch
        for table in self.tables:
            table.sparse = True  # our model's own modules: their gradient is a sparse tensor from now on
            table.register_forward_hook(self._record)

    def _record(self, table, inputs, output):
        if table.training and self.coefficient:
            self.read.setdefault(id(table), (table, []))[1].append(inputs[0].reshape(-1))

    def penalty(self):
        """coefficient · Σ over tables of ‖the rows read since the last call‖² (each row once); sparse gradients."""
        total = None
        for table, indices in self.read.values():
            rows = torch.unique(torch.cat(indices))
            term = F.embedding(rows, table.weight, sparse=True).pow(2).sum()
            total = term if total is None else total + term
        self.read.clear()
        return None if total is None else self.coefficient * total
