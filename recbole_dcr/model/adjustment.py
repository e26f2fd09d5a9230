"""The backdoor adjustment, written once: P(y=1|u, do(x)) = Σ_a P(a)·f(u, x, a).

Reference: He et al., "Addressing Confounding Feature Issue for Causal Recommendation", ACM TOIS
2022, eq. (1), (4) and (5).  Every model ranks with one config key, ``inference``:

* ``do`` — the exact adjustment: f(u, x, a) for every value a, weighted by P(a).  A model that takes
  A as an input (NFM-WA, the generic ``DCR`` wrapper) enumerates a, one full pass per value; DCR-MoE
  reads all K values off its experts in one pass;
* ``nwgm`` — the approximation of eq. (5), f(u, x, Σ_a P(a)·a): one pass in which the confounder's
  embedding (and first-order weight) is the P(a)-weighted average of its rows;
* ``condition`` — no intervention, f(u, x, a) with the row's observed a;
* ``supported``, ``shrunk`` — the adjustment where the data support it (issue #16): Σ_a w(a|x)·f(u, x, a)
  with weights that avoid values of A the item's content never occurs with in training.
  ``supported``: P(a) over the values with P(a|x) ≥ ``support_epsilon``, renormalised; ``shrunk``:
  o_x·P(a) + (1 − o_x)·P(a|x), o_x = Σ_a min(P(a|x), P(a)) the content's overlap (1: the paper's
  P(a); 0, A set by the content: P(a|x)). P(a|x) is counted over training rows
  (:func:`recbole_dcr.overlap.confounder_given_content`).

The old key ``dcr_inference`` (value ``enumerate`` = ``do``) is still read, with a warning (see
:mod:`recbole_dcr.config`).
"""

from contextlib import ExitStack, contextmanager

import torch
from recbole.data.interaction import Interaction
from torch import nn

INFERENCES = ("do", "nwgm", "condition", "supported", "shrunk")
CONTENT_AWARE = ("supported", "shrunk")


def check_inference(value, allowed, model_name):
    """``value`` if ``allowed`` for this model, else one error that says what is."""
    if value not in allowed:
        known = "" if value in INFERENCES else f" (the ranking modes are {', '.join(INFERENCES)})"
        raise ValueError(f"{model_name} ranks with inference: {' or '.join(allowed)}; got {value!r}{known}")
    return value


def backdoor_sum(per_value, prior):
    """Σ_a P(a)·f(u, x, a) per row: ``per_value`` is [batch, K], ``prior`` is P(a), [K]."""
    return per_value @ prior


def content_aware_weights(mode, prior, given_content, epsilon):
    """w(a|x) per row: [batch, K] from P(a) [K] and P(a|x) of each row's item [batch, K] (see the module doc)."""
    if mode == "supported":
        weights = prior * (given_content >= epsilon)
        return weights / weights.sum(dim=1, keepdim=True).clamp_min(1e-12)
    overlap = torch.minimum(given_content, prior).sum(dim=1, keepdim=True)
    return overlap * prior + (1.0 - overlap) * given_content


def with_confounder(interaction, field, index):
    """A copy of ``interaction`` in which every row has confounder value ``index`` (0..K-1; RecBole id index+1)."""
    forced = Interaction(dict(interaction.interaction))
    forced[field] = torch.full_like(interaction[field], index + 1)
    return forced


def enumerate_confounder(interaction, field, num_values, score):
    """``score`` of every row under every confounder value: [batch, K], one full evaluation per value."""
    return torch.stack([score(with_confounder(interaction, field, a)) for a in range(num_values)], dim=1)


def confounder_tables(model, field):
    """(FMEmbedding, slot) of every RecBole token table in ``model`` that embeds ``field``.

    RecBole's context models keep their token fields in ``token_embedding_table`` (the field
    embeddings) and ``first_order_linear.token_embedding_table`` (the first-order weights); the slot
    is the field's position among ``token_field_names``.
    """
    tables = []
    for module in model.modules():
        names = getattr(module, "token_field_names", None)
        table = getattr(module, "token_embedding_table", None)
        if table is not None and names and field in names:
            tables.append((table, names.index(field)))
    return tables


def value_rows(table, slot, num_values, device):
    """Row indices, in a RecBole token table, of the values 1..K of the field at ``slot`` (id 0 is padding)."""
    return torch.arange(num_values, device=device) + int(table.offsets[slot]) + 1


def check_nwgm_possible(model, field):
    """Refuse models that embed fields outside RecBole's shared token tables (NWGM could not reach them)."""
    shared = {id(table.embedding) for table, _ in confounder_tables(model, field)}
    elsewhere = [
        name for name, module in model.named_modules()
        if isinstance(module, nn.Embedding) and id(module) not in shared and "seq_embedding_table" not in name
    ]
    if not shared or elsewhere:
        raise ValueError(
            f"inference: nwgm averages the confounder's rows in RecBole's shared token tables; "
            f"{type(model).__name__} also embeds fields in {elsewhere or 'no shared table'}. "
            f"Use inference: do (exact) for this model."
        )


@contextmanager
def averaged_confounder(model, field, prior):
    """Within the block, every lookup of ``field`` in ``model``'s token tables returns Σ_a P(a)·row(a) (eq. 5).

    Forward hooks replace the field's slot of each table's output; the weights are never written, and
    the hooks are removed on leaving the block.
    """
    def hook_for(table, slot):
        rows = value_rows(table, slot, len(prior), prior.device)

        def replace_slot(module, inputs, output):
            output = output.clone()
            output[:, slot] = prior @ module.embedding.weight[rows]
            return output

        return replace_slot

    with ExitStack() as stack:
        for table, slot in confounder_tables(model, field):
            stack.callback(table.register_forward_hook(hook_for(table, slot)).remove)
        yield


class BackdoorAdjusted:
    """Mixin for models that score f(u, x, a) with A as an input: ``predict`` follows ``inference``.

    The model provides ``conditional_scores(interaction)`` (f with the observed a), ``CONFOUNDER``,
    ``num_confounder_values``, ``confounder_prior`` and ``inference``.
    """

    def conditional_scores(self, interaction):
        raise NotImplementedError

    def adjusted_scores(self, interaction):
        if self.inference == "condition":
            return self.conditional_scores(interaction)
        if self.inference == "do":
            per_value = enumerate_confounder(
                interaction, self.CONFOUNDER, self.num_confounder_values, self.conditional_scores
            )
            return backdoor_sum(per_value, self.confounder_prior)
        with averaged_confounder(self, self.CONFOUNDER, self.confounder_prior):
            return self.conditional_scores(interaction)
