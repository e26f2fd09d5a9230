"""MoE: DCR-MoE's architecture with conditional inference (the paper's ablation, Table 3).

Reference: He et al., "Addressing Confounding Feature Issue for Causal Recommendation", TOIS 2022,
sec. 5.3.1.  Same training as DCR-MoE; each candidate is scored by the expert of its own observed
confounder value, i.e. P(Y|U, X, A) without intervention.  Comparing it with DCRMoE isolates the
effect of the do-intervention from that of the extra parameters.  A preset: DCR-MoE with
``inference: condition`` (``properties/model/MoE.yaml``).
"""

from recbole_dcr.model.dcrmoe import DCRMoE


class MoE(DCRMoE):
    """DCRMoE with ``inference: condition`` (its yaml default), runnable by name."""
