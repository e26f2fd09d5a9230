"""A training step captured once as a CUDA graph and replayed for every full batch (issue #23).

On a GPU a DCR training step is a few hundred tiny kernels; launched one by one from Python the GPU
waits on the host (302k rows/s on an H200 at batch 2048).  Captured once, a step is one
``graph.replay()``: the batch's row indices are copied into a fixed buffer, and the gather, forward,
loss, backward, optimizer step and the epoch's loss sum all run inside the graph.

What it relies on (checked by :func:`graph_ready`; otherwise the trainer's eager loop runs):

* fixed shapes: every full batch has ``train_batch_size`` rows (the last, shorter one runs eagerly,
  on the same parameters, gradients and optimizer state);
* no host synchronisation inside the step: the loss is summed on the device and read once per epoch;
  DCR-MoE's separate experts run every expert on every row on a GPU
  (:class:`~recbole_dcr.model.experts.ExpertMLPs`);
* an optimizer whose update needs no host-side value that changes between steps: Adagrad with
  ``lr_decay`` 0 or SGD (Adam's bias correction reads its step count on the host);
* dense gradients, one process, no gradient clipping and no loss scaling.

The first ``WARMUP`` full batches of the first epoch run eagerly on a side stream (they are real
training steps, so a graphed run trains on the same batches as an eager one); capturing executes
nothing.  Adagrad keeps its step counts on the host, where a graph cannot advance them: they are
advanced by the number of replays, so checkpoints hold the true counts.
"""

import torch

GRAPH_OPTIMIZERS = (torch.optim.Adagrad, torch.optim.SGD)


def graph_ready(device, optimizer, *, distributed, sparse, clip_grad_norm, scaled):
    """Why the training step cannot be a CUDA graph here ('' when it can)."""
    if device.type != "cuda":
        return "not on a GPU"
    if distributed or sparse or clip_grad_norm or scaled:
        return "data-parallel, sparse tables, gradient clipping or loss scaling"
    if not isinstance(optimizer, GRAPH_OPTIMIZERS):
        return f"{type(optimizer).__name__} reads its step count on the host (use adagrad or sgd)"
    if any(group.get("lr_decay", 0) for group in optimizer.param_groups):
        return "Adagrad's lr_decay reads its step count on the host"
    return ""


class GraphedTrainingStep:
    """Runs training steps for row-index batches of a loader with ``batch(index)``; full ones by graph replay."""

    WARMUP = 3

    def __init__(self, loader, optimizer, step_loss, batch_rows, loss_total, logger=None):
        self.loader, self.optimizer, self.step_loss, self.logger = loader, optimizer, step_loss, logger
        self.failed = None  # why capturing failed, if it did: every step then runs eagerly
        self.batch_rows = batch_rows
        self.loss_total = loss_total  # a device scalar: the epoch's summed loss, read once per epoch
        self.static_index = torch.zeros(batch_rows, dtype=torch.long, device=loader.device)
        self.graph = None
        self.warmed = 0
        self.replays = 0

    def _step(self, index):
        """One eager step, as the graph records it."""
        self.optimizer.zero_grad(set_to_none=True)
        losses = self.step_loss(self.loader.batch(index))
        loss = sum(losses) if isinstance(losses, tuple) else losses  # a model may return its loss in parts
        loss.backward()
        self.optimizer.step()
        self.loss_total.add_(loss.detach())

    def __call__(self, index):
        if len(index) != self.batch_rows or self.failed:
            return self._step(index)
        if self.graph is None:
            if self.warmed < self.WARMUP:  # cuBLAS handles, autograd buffers: made before capture
                side = torch.cuda.Stream(device=index.device)
                side.wait_stream(torch.cuda.current_stream(index.device))
                with torch.cuda.stream(side):
                    self._step(index)
                torch.cuda.current_stream(index.device).wait_stream(side)
                self.warmed += 1
                return None
            if not self._capture():
                return self._step(index)
        self.static_index.copy_(index)
        self.graph.replay()
        self.replays += 1
        return None

    def _host_steps(self):
        return [state["step"] for state in self.optimizer.state.values()
                if torch.is_tensor(state.get("step")) and not state["step"].is_cuda]

    def _capture(self):
        """Record the step; False (and a warning) if this model's step cannot be captured."""
        host_steps = self._host_steps()
        before = [step.clone() for step in host_steps]
        self.optimizer.zero_grad(set_to_none=True)  # backward in the graph writes (not adds) the gradients
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                self._step(self.static_index)
        except RuntimeError as error:  # an op that synchronises or is not capturable: train eagerly
            self.failed = str(error).splitlines()[0]
            if self.logger is not None:
                self.logger.warning(f"cuda_graphs: the training step could not be captured ({self.failed}); "
                                    f"training goes on with the eager loop")
            self.optimizer.zero_grad(set_to_none=True)
            return False
        finally:
            for step, value in zip(host_steps, before):  # capturing ran the host-side increments once
                step.copy_(value)
        self.graph = graph
        return True

    def end_epoch(self):
        """Advance the host-side step counts by this epoch's replays."""
        for step in self._host_steps():
            step.add_(self.replays)
        self.replays = 0
