"""NWGM-DCR (the paper's DCR-NFM-A): backdoor adjustment approximated by one forward pass.

Reference: He et al., "Addressing Confounding Feature Issue for Causal Recommendation", TOIS 2022,
eq. (5): P(y=1|u, do(x)) ≈ f(u, x, Σ_a a·P(a)).  Trained exactly as NFM-WA; at inference the
confounder's embedding and its first-order weight are their P(a)-weighted averages.  A preset:
NFM-WA with ``inference: nwgm`` (``properties/model/NWGMDCR.yaml``).
"""

from recbole_dcr.model.nfmwa import NFMWA


class NWGMDCR(NFMWA):
    """NFM-WA ranked by the NWGM approximation of the adjustment (its yaml sets ``inference: nwgm``)."""
