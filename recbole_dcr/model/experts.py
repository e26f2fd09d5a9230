"""DCR-MoE's expert block: the logit of f(u, x, a) from what the experts read (m), for each value a of A.

Reference: He et al., "Addressing Confounding Feature Issue for Causal Recommendation", TOIS 2022,
sec. 3.3 (one expert per value of A).  ``expert_sharing`` says how much the K experts share (issue #22):

* ``separate`` — the paper's K independent MLPs (:class:`ExpertMLPs`); a row trains only its own expert,
  so each expert learns from the rows of one value of A;
* ``heads`` — one MLP trunk over m for every value, one linear head (last hidden layer → 1) per value;
* ``residual`` — one MLP to a logit for every value plus a small per-value MLP added to it, whose
  weights carry an extra L2 term (``residual_weight_decay``);
* ``pull`` — the paper's experts plus an L2 term pulling each expert's weights toward the experts' mean
  (``expert_pull``);
* ``conditioned`` — one MLP whose first layer has a bias per value: A as an input of the MLP;
* ``embedded`` — A as one more embedded field of the NFM backbone, one MLP for every value: the
  bi-interaction with A = a is m + e_a ⊙ Σ_j e_j, so the backbone still runs once per candidate and
  only the MLP runs once per value (NFM backbone only).

Every block maps ``h`` [batch, n] to the logits of every value [batch, K] (``block(h)``) or of each
row's own value [batch] (``block(h, index)``; gradients reach only what that value uses), and gives
``penalty()`` (an extra loss term, or None) and ``multiply_adds(all_values)`` per row (Table 4).
The backdoor sum over the K logits is not here: :mod:`recbole_dcr.model.adjustment`.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

EXPERT_SHARING = ("separate", "heads", "residual", "pull", "conditioned", "embedded")
PAPER_EXPERTS = {"expert_sharing": "separate", "confounder_as_content": False}  # DCR-MoE as the paper built it:
# K independent experts over a backbone that never reads A
INITS = ("xavier_normal", "uniform")


def init_linear_(weight, bias, init):
    """``xavier_normal``: N(0, 2/(n_in+n_out)) weights, zero biases (NFM's own init); ``uniform``: torch's
    nn.Linear default, U(±1/√n_in) for weights and biases (the DCR authors' experts). ``weight`` is
    [..., n_in, n_out]; ``bias`` [..., n_out] (or None)."""
    if init not in INITS:
        raise ValueError(f"mlp_init must be one of {INITS}, got {init!r}")
    n_in, n_out = weight.shape[-2:]
    with torch.no_grad():
        if init == "xavier_normal":
            weight.normal_(0.0, math.sqrt(2.0 / (n_in + n_out)))
            if bias is not None:
                bias.zero_()
        else:
            bound = 1.0 / math.sqrt(n_in)
            weight.uniform_(-bound, bound)
            if bias is not None:
                bias.uniform_(-bound, bound)


class ExpertBlock(nn.Module):
    """What every block of this module provides; the model's weight init calls ``reset_parameters``."""

    num_experts = 1

    def reset_parameters(self, init="xavier_normal"):
        raise NotImplementedError

    def penalty(self):
        return None

    def multiply_adds(self, all_values):
        """Multiply-adds per row: of every value's output (``all_values``) or of the row's own."""
        raise NotImplementedError

    def one_pass_multiply_adds(self):
        """Multiply-adds of one full MLP of this block's sizes, the unit of Table 4's "MLP passes"."""
        return self.mlp.multiply_adds()


# Inference on a CPU runs the experts on slices of the batch whose K x rows x width activations stay
# about this many floats (8 MB), small enough to stay in cache; a 65536-row batch at K = 6 would
# otherwise write 400 MB per layer.
INFERENCE_CELLS = 2**21


def in_cache_sized_slices(score, m, cells_per_row, num_values):
    """``score(m)`` [rows, K] computed slice by slice (see INFERENCE_CELLS)."""
    if len(m) == 0:
        return m.new_empty(0, num_values)
    rows = max(64, INFERENCE_CELLS // cells_per_row)
    return torch.cat([score(part) for part in m.split(rows)])


def _layer_multiply_adds(weights):
    return sum(w.shape[-2] * w.shape[-1] for w in weights)


class MLP(ExpertBlock):
    """One MLP (ReLU between layers, dropout after each hidden layer). With ``output_size`` it ends in
    a linear output layer; without, its last hidden layer (after ReLU) is the output."""

    def __init__(self, input_size, hidden_sizes, output_size=1, dropout_prob=0.0, init="xavier_normal"):
        super().__init__()
        sizes = [input_size, *hidden_sizes] + ([output_size] if output_size else [])
        self.weights = nn.ParameterList(nn.Parameter(torch.empty(a, b)) for a, b in zip(sizes[:-1], sizes[1:]))
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(b)) for b in sizes[1:])
        self.activated = len(self.weights) if not output_size else len(self.weights) - 1
        self.output_size = sizes[-1]
        self.dropout = nn.Dropout(dropout_prob)
        self.reset_parameters(init)

    def reset_parameters(self, init="xavier_normal"):
        for weight, bias in zip(self.weights, self.biases):
            init_linear_(weight, bias, init)

    def forward(self, h, first_bias=None):
        """``first_bias`` (broadcast to the first layer's output) lets a caller shift the first layer per row."""
        for layer, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            h = torch.addmm(bias, h, weight) if h.dim() == 2 else h @ weight + bias
            if layer == 0 and first_bias is not None:
                h = h + first_bias
            if layer < self.activated:
                h = self.dropout(F.relu(h))
        return h

    def multiply_adds(self, all_values=False):
        return _layer_multiply_adds(self.weights)

    def one_pass_multiply_adds(self):
        return self.multiply_adds()


class ExpertMLPs(ExpertBlock):
    """K MLP experts (hidden layers with ReLU, then a 1-unit output) stored as stacked weights.

    ``experts(m)`` runs every expert on every row as batched matrix products: [batch, K];
    ``experts(m, expert_index)`` runs each row through the expert of its own confounder value only,
    so a row's gradient reaches only that expert (Algorithm 1, line 6): [batch].
    ``pull`` > 0 adds pull·Σ_layers Σ_k ‖W_k − mean_k W‖² (weights, not biases) as ``penalty()``.
    """

    INITS = INITS

    def __init__(self, num_experts, input_size, hidden_sizes, dropout_prob=0.0, init="xavier_normal", pull=0.0):
        super().__init__()
        sizes = [input_size] + list(hidden_sizes) + [1]
        self.num_experts = num_experts
        self.pull = float(pull or 0.0)
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(num_experts, n_in, n_out)) for n_in, n_out in zip(sizes[:-1], sizes[1:])
        )
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(num_experts, n_out)) for n_out in sizes[1:])
        self.dropout = nn.Dropout(dropout_prob)
        self.reset_parameters(init)

    def reset_parameters(self, init="xavier_normal"):
        for weight, bias in zip(self.weights, self.biases):
            init_linear_(weight, bias, init)

    def penalty(self):
        if not self.pull or self.num_experts < 2:
            return None
        return self.pull * sum((w - w.mean(dim=0, keepdim=True)).square().sum() for w in self.weights)

    def multiply_adds(self, all_values):
        return _layer_multiply_adds(self.weights) * (self.num_experts if all_values else 1)  # per expert, x K

    def one_pass_multiply_adds(self):
        return _layer_multiply_adds(self.weights)

    def forward(self, m, expert_index=None):
        if expert_index is None:
            return self.all_experts(m)
        if m.is_cuda:
            # On a GPU the grouped path's per-expert row counts would stop the stream on every step (and
            # could not be captured in a CUDA graph); every expert on every row, then each row's own
            # output, is the same function with the same gradients, at K times the (cheap) products.
            return self.all_experts(m).gather(1, expert_index.unsqueeze(1)).squeeze(1)
        return self.own_expert(m, expert_index)

    def _run(self, hidden, weights, biases):
        last = len(weights) - 1
        for layer, (weight, bias) in enumerate(zip(weights, biases)):
            hidden = torch.baddbmm(bias.unsqueeze(-2), hidden, weight) if hidden.dim() == 3 else hidden @ weight + bias
            if layer < last:
                hidden = self.dropout(F.relu(hidden))
        return hidden.squeeze(-1)

    def all_experts(self, m):
        """Logits of every expert for every row: [batch, K]."""
        if torch.is_grad_enabled() or m.is_cuda:  # training, or a GPU (no cache to fit): one pass
            hidden = m.unsqueeze(0).expand(self.num_experts, -1, -1)
            return self._run(hidden, self.weights, self.biases).transpose(0, 1)
        widest = max(w.shape[-1] for w in self.weights)
        return in_cache_sized_slices(self._all_experts_inference, m, self.num_experts * widest, self.num_experts)

    def _all_experts_inference(self, m):
        # All experts read the same m, so their first layers are one [rows, n_in] x [n_in, K*n_out]
        # product. The results equal the batched path's: bit for bit where we measured, and within
        # 1e-6 in tests/test_fast_paths.py, which must also pass on other CPUs' kernels.
        if len(self.weights) == 1:  # no hidden layer: a matrix-vector product per expert, nothing to fuse
            return self._run(m.unsqueeze(0).expand(self.num_experts, -1, -1), self.weights, self.biases).transpose(0, 1)
        num_experts, n_in, n_out = self.weights[0].shape
        first = torch.addmm(self.biases[0].reshape(-1), m, self.weights[0].transpose(0, 1).reshape(n_in, -1))
        hidden = self.dropout(F.relu(first.view(len(m), num_experts, n_out).transpose(0, 1)))
        return self._run(hidden, self.weights[1:], self.biases[1:]).transpose(0, 1)

    def own_expert(self, m, expert_index):
        """Logit of each row's own expert: [batch]; rows are grouped by expert, never looped over.

        Rows are sorted by expert once, so each expert reads one contiguous slice; the stacked weights
        are unbound once, so backward stacks the K gradients once (indexing ``weight[k]`` per expert
        would zero-fill and add a K-sized gradient K times).
        """
        order = torch.argsort(expert_index, stable=True)
        counts = torch.bincount(expert_index, minlength=self.num_experts).tolist()
        weights = list(zip(*(w.unbind(0) for w in self.weights)))
        biases = list(zip(*(b.unbind(0) for b in self.biases)))
        sorted_logits = torch.cat([
            self._run(rows, weights[expert], biases[expert])
            for expert, rows in enumerate(m[order].split(counts))
            if counts[expert]
        ])
        return sorted_logits.new_empty(len(order)).index_put((order,), sorted_logits)


class ValueHeads(nn.Module):
    """K linear maps of a shared representation to a logit: ``weight`` [K, n], ``bias`` [K]."""

    def __init__(self, num_values, input_size):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_values, input_size))
        self.bias = nn.Parameter(torch.zeros(num_values))

    def reset_parameters(self, init):
        init_linear_(self.weight.unsqueeze(-1), self.bias, init)  # as one nn.Linear(n, 1) per value

    def forward(self, h, index=None):
        if index is None:
            return torch.addmm(self.bias, h, self.weight.T)
        # lookups as embeddings: their backward adds rows without sorting (no host sync on a GPU)
        # (an einsum here runs as B tiny matrix products on a CPU)
        return (h * F.embedding(index, self.weight)).sum(dim=1) + F.embedding(index, self.bias[:, None])[:, 0]


class SharedTrunkHeads(ExpertBlock):
    """``expert_sharing: heads``: one MLP trunk (every hidden layer) over m, one linear head per value.

    Every row trains the trunk; a head learns from its value's rows only, on the trunk's representation.
    Inference runs the trunk once and K dot products per candidate.
    """

    def __init__(self, num_values, input_size, hidden_sizes, dropout_prob=0.0, init="xavier_normal"):
        super().__init__()
        self.num_experts = num_values
        self.trunk = MLP(input_size, hidden_sizes, output_size=None, dropout_prob=dropout_prob, init=init)
        self.heads = ValueHeads(num_values, self.trunk.output_size)
        self.reset_parameters(init)

    def reset_parameters(self, init="xavier_normal"):
        self.trunk.reset_parameters(init)
        self.heads.reset_parameters(init)

    def forward(self, m, index=None):
        return self.heads(self.trunk(m), index)

    def multiply_adds(self, all_values):
        return self.trunk.multiply_adds() + self.trunk.output_size * (self.num_experts if all_values else 1)

    def one_pass_multiply_adds(self):
        return self.multiply_adds(all_values=False)


class SharedWithResidual(ExpertBlock):
    """``expert_sharing: residual``: a shared MLP's logit plus a small per-value MLP's logit.

    The per-value part starts where the shared one leaves off and is held near zero by its own L2
    term, ``residual_weight_decay``·Σ‖W‖² over its weights (on top of ``weight_decay``).

    ``gain`` (``residual_gain``) also scales the shared logit by exp(g_a) per value, g_a starting at 0:
    A may set how much the match moves the training label (a short video is finished whatever the
    match, a long one only when it is high), which a small, heavily regularised residual cannot express
    but one positive scalar per value can; exp keeps every value's score increasing in the shared one,
    and ``weight_decay`` on g pulls each value back toward the shared scale.
    """

    def __init__(self, num_values, input_size, hidden_sizes, residual_hidden_sizes, dropout_prob=0.0,
                 init="xavier_normal", residual_weight_decay=0.0, gain=False):
        super().__init__()
        self.num_experts = num_values
        self.shared = MLP(input_size, hidden_sizes, output_size=1, dropout_prob=dropout_prob, init=init)
        self.residual = ExpertMLPs(num_values, input_size, residual_hidden_sizes, dropout_prob, init)
        self.residual_weight_decay = float(residual_weight_decay or 0.0)
        self.log_gain = nn.Parameter(torch.zeros(num_values)) if gain else None

    def reset_parameters(self, init="xavier_normal"):
        self.shared.reset_parameters(init)
        self.residual.reset_parameters(init)
        if self.log_gain is not None:
            nn.init.zeros_(self.log_gain)

    def forward(self, m, index=None):
        shared = self.shared(m)
        if index is None:
            scaled = shared if self.log_gain is None else shared * self.log_gain.exp()
            return scaled + self.residual(m)
        shared = shared[:, 0]
        if self.log_gain is not None:
            shared = shared * F.embedding(index, self.log_gain[:, None])[:, 0].exp()
        return shared + self.residual(m, index)

    def penalty(self):
        if not self.residual_weight_decay:
            return None
        return self.residual_weight_decay * sum(w.square().sum() for w in self.residual.weights)

    def multiply_adds(self, all_values):
        gains = 0 if self.log_gain is None else (self.num_experts if all_values else 1)
        return self.shared.multiply_adds() + self.residual.multiply_adds(all_values) + gains

    def one_pass_multiply_adds(self):
        return self.shared.multiply_adds()


class ConditionedMLP(ExpertBlock):
    """``expert_sharing: conditioned``: one MLP over [m, one-hot(a)], i.e. a first-layer bias per value.

    Inference computes the first layer's product once and the later layers once per value.
    """

    def __init__(self, num_values, input_size, hidden_sizes, dropout_prob=0.0, init="xavier_normal"):
        super().__init__()
        if not hidden_sizes:
            raise ValueError("expert_sharing: conditioned needs at least one hidden layer in expert_hidden_size")
        self.num_experts = num_values
        self.mlp = MLP(input_size, hidden_sizes, output_size=1, dropout_prob=dropout_prob, init=init)
        self.value = nn.Module()  # its parameter is named ``value.bias``: no L2, as every bias
        self.value.bias = nn.Parameter(torch.zeros(num_values, hidden_sizes[0]))

    def reset_parameters(self, init="xavier_normal"):
        self.mlp.reset_parameters(init)
        if init == "uniform":  # as the first layer's own bias
            bound = 1.0 / math.sqrt(self.mlp.weights[0].shape[0])
            with torch.no_grad():
                self.value.bias.uniform_(-bound, bound)
        else:
            nn.init.zeros_(self.value.bias)

    def forward(self, m, index=None):
        if index is not None:
            return self.mlp(m, first_bias=F.embedding(index, self.value.bias))[:, 0]
        if torch.is_grad_enabled() or m.is_cuda:
            return self._all_values(m)
        widest = max(w.shape[-1] for w in self.mlp.weights)
        return in_cache_sized_slices(self._all_values, m, self.num_experts * widest, self.num_experts)

    def _all_values(self, m):
        # [batch, 1, n1] + [K, n1] -> [batch, K, n1]; the later layers run on every (row, value)
        return self.mlp(m.unsqueeze(1), first_bias=self.value.bias)[..., 0]

    def multiply_adds(self, all_values):
        first = self.mlp.weights[0].shape[0] * self.mlp.weights[0].shape[1]
        return first + (self.mlp.multiply_adds() - first) * (self.num_experts if all_values else 1)


class EmbeddedValueMLP(ExpertBlock):
    """``expert_sharing: embedded``: each value a has an embedding e_a and a first-order weight w_a, as any
    field of the NFM backbone; f_a = MLP(m + e_a ⊙ s) + w_a, where m is the bi-interaction of the other
    fields and s their embeddings' sum (the bi-interaction with a added is m + e_a ⊙ s). The MLP is shared.

    It reads ``field_sum`` (s) besides m: ``block(h, index, field_sum=s)``.
    """

    needs_field_sum = True

    def __init__(self, num_values, embedding_size, input_size, hidden_sizes, dropout_prob=0.0, init="xavier_normal"):
        super().__init__()
        self.num_experts, self.embedding_size = num_values, embedding_size
        self.mlp = MLP(input_size, hidden_sizes, output_size=1, dropout_prob=dropout_prob, init=init)
        # nn.Embedding, so that they are initialised, regularised (embedding_weight_decay) and made sparse
        # (sparse_embeddings) as the backbone's own field embeddings and first-order weights are
        self.value_embedding = nn.Embedding(num_values, embedding_size)
        self.value_weight = nn.Embedding(num_values, 1)

    def reset_parameters(self, init="xavier_normal"):
        self.mlp.reset_parameters(init)

    def _shift(self, h, value_embedding, field_sum):
        shift = value_embedding * field_sum  # e_a ⊙ s, added to m (the last embedding_size columns of h)
        return h + F.pad(shift, (h.shape[-1] - self.embedding_size, 0)) if h.shape[-1] > self.embedding_size else h + shift

    def forward(self, h, index=None, field_sum=None):
        if index is not None:
            shifted = self._shift(h, self.value_embedding(index), field_sum)
            return self.mlp(shifted)[:, 0] + self.value_weight(index)[:, 0]
        shifted = self._shift(h.unsqueeze(1), self.value_embedding.weight, field_sum.unsqueeze(1))  # [batch, K, n]
        if torch.is_grad_enabled() or h.is_cuda:
            return self.mlp(shifted)[..., 0] + self.value_weight.weight[:, 0]
        widest = max(w.shape[-1] for w in self.mlp.weights)
        logits = in_cache_sized_slices(lambda part: self.mlp(part)[..., 0], shifted, self.num_experts * widest,
                                       self.num_experts)
        return logits + self.value_weight.weight[:, 0]

    def multiply_adds(self, all_values):
        return (self.mlp.multiply_adds() + self.embedding_size) * (self.num_experts if all_values else 1)


def make_experts(sharing, num_values, input_size, config):
    """The expert block ``expert_sharing`` names, sized and regularised from ``config``. Its weights are
    drawn as ``xavier_normal``; the model's init then redraws them as ``mlp_init`` says (as it always has,
    so seeded runs of ``separate`` draw what they drew before the key existed)."""
    init = "xavier_normal"
    hidden, dropout = list(config["expert_hidden_size"]), config["dropout_prob"]
    if sharing == "separate":
        return ExpertMLPs(num_values, input_size, hidden, dropout, init)
    if sharing == "pull":
        return ExpertMLPs(num_values, input_size, hidden, dropout, init, pull=config["expert_pull"])
    if sharing == "heads":
        return SharedTrunkHeads(num_values, input_size, hidden, dropout, init)
    if sharing == "residual":
        return SharedWithResidual(num_values, input_size, hidden, list(config["residual_hidden_size"]), dropout,
                                  init, config["residual_weight_decay"], gain=bool(config["residual_gain"]))
    if sharing == "conditioned":
        return ConditionedMLP(num_values, input_size, hidden, dropout, init)
    if sharing == "embedded":
        return EmbeddedValueMLP(num_values, config["embedding_size"], input_size, hidden, dropout, init)
    from recbole_dcr.registry import did_you_mean

    raise ValueError(f"expert_sharing must be one of {', '.join(EXPERT_SHARING)}; got {sharing!r}"
                     f"{did_you_mean(str(sharing), EXPERT_SHARING)}")
