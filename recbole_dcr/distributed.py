"""Data-parallel training (RecBole's DDP settings) that also runs on CPU with the gloo backend.

RecBole 1.2.1 starts every process group with NCCL on ``cuda:<local_rank>``, wraps the model in
``DistributedDataParallel`` with ``device_ids`` (refused for CPU modules) and converts BatchNorm to
``SyncBatchNorm`` (GPU only). recbole_dcr keeps RecBole's flags (``nproc``, ``world_size``, ``ip``,
``port``, ``offset``) and makes a run with W processes equal a run with one, on CPU or GPU:

* every rank draws the same permutation and takes its share of each global batch;
* a rank's mean loss is weighted by its share of the batch's rows, and after each backward pass the
  gradients are summed across ranks (one all-reduce; no DDP hooks, whose asynchronous all-reduces
  could interleave with BatchNorm's collectives on gloo);
* BatchNorm statistics are those of the global batch;
* evaluation gathers every rank's users before RecBole's metrics are computed.
"""

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_functional
from torch import nn


def is_distributed(config):
    return not config["single_spec"]


class CrossRankBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d whose training statistics are those of the global batch, on any device.

    The per-feature sums are all-reduced with an autograd-aware collective, so gradients also flow
    through the other ranks' statistics, as in torch's (GPU-only) ``SyncBatchNorm``.
    """

    def forward(self, x):
        if not (self.training and dist.is_initialized()):
            return super().forward(x)
        width = x.shape[1]
        count = torch.full((1,), float(x.shape[0]), dtype=x.dtype, device=x.device)
        totals = dist_functional.all_reduce(torch.cat([x.sum(0), (x * x).sum(0), count]))
        rows = totals[-1]
        mean = totals[:width] / rows
        variance = (totals[width:2 * width] / rows - mean * mean).clamp_min(0.0)
        with torch.no_grad():
            self.num_batches_tracked += 1
            unbiased = variance * rows / (rows - 1).clamp_min(1.0)
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean.detach())
            self.running_var.mul_(1 - self.momentum).add_(self.momentum * unbiased.detach())
        normalized = (x - mean) / torch.sqrt(variance + self.eps)
        return normalized * self.weight + self.bias if self.affine else normalized

    @classmethod
    def convert(cls, module):
        """Replace every BatchNorm1d inside ``module`` by one of these, sharing its parameters and buffers."""
        for name, child in module.named_children():
            if type(child) is nn.BatchNorm1d:
                setattr(module, name, cls.sharing_state_of(child))
            else:
                cls.convert(child)
        return module

    @classmethod
    def sharing_state_of(cls, batch_norm):
        """A CrossRankBatchNorm1d holding ``batch_norm``'s own parameter and buffer tensors (no copies)."""
        replacement = cls(batch_norm.num_features, batch_norm.eps, batch_norm.momentum, batch_norm.affine,
                          batch_norm.track_running_stats, device="meta")
        replacement.train(batch_norm.training)
        for name, tensor in list(batch_norm.named_parameters(recurse=False)):
            setattr(replacement, name, tensor)
        for name, tensor in list(batch_norm.named_buffers(recurse=False)):
            setattr(replacement, name, tensor)
        return replacement


def broadcast_model(model):
    """Rank 0's parameters and buffers on every rank (each rank initialised its own)."""
    for tensor in list(model.parameters()) + list(model.buffers()):
        dist.broadcast(tensor.data, src=0)


def sum_gradients(parameters):
    """Sum every parameter's gradient over the ranks, in one all-reduce.

    A parameter gets a gradient only if some rank gave it one, as a single process would leave it
    without (the optimizer then skips it, weight decay included).
    """
    parameters = list(parameters)
    flags = torch.tensor([p.grad is not None for p in parameters], dtype=torch.float32, device=parameters[0].device)
    flat = torch.cat([flags] + [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in parameters])
    dist.all_reduce(flat)
    offset = len(parameters)
    for flag, p in zip(flat[: len(parameters)], parameters):
        if flag > 0:
            p.grad = flat[offset: offset + p.numel()].view_as(p).clone()
        offset += p.numel()


def broadcast_from_first_rank(value):
    """Rank 0's ``value`` on every rank (any picklable object)."""
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]
