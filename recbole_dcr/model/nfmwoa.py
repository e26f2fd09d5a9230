"""NFM-WOA: NFM trained without the confounding feature, i.e. the correlation P(Y|U,X).

Reference: baseline "NFM-WOA" of He et al., "Addressing Confounding Feature Issue for Causal
Recommendation", TOIS 2022, sec. 5.1.2.  Dropping A from the input leaves the backdoor path
X <- Z -> A -> Y open, so the model still learns A's effect through X.
"""

from recbole_dcr.model.nfmwa import NFMWA


class NFMWOA(NFMWA):
    """NFM-WA's architecture with the confounder removed from the input fields (``inference: condition`` only)."""

    confounder_as_input = False
