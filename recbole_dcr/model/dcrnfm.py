"""DCR-NFM: the exact backdoor adjustment on NFM by enumerating the confounder.

Reference: He et al., "Addressing Confounding Feature Issue for Causal Recommendation", TOIS 2022,
eq. (1) and (4), sec. 5.3.2.  Trained exactly as NFM-WA (A is an input); at inference every value a
is fed in turn and P(y=1|u, do(x)) = Σ_a P(a)·f(u, x, a): K embedding + bi-interaction + MLP
evaluations per candidate, the cost DCR-MoE removes.  A preset: NFM-WA with ``inference: do``
(``properties/model/DCRNFM.yaml``).
"""

from recbole_dcr.model.nfmwa import NFMWA


class DCRNFM(NFMWA):
    """NFM-WA ranked by the backdoor adjustment, by enumeration (its yaml sets ``inference: do``)."""
