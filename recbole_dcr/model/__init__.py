"""recbole_dcr models; each is resolved by name through :func:`recbole_dcr.utils.get_model`."""

from recbole_dcr.model.dcrmoe import DCRMoE
from recbole_dcr.model.nfmwa import NFMWA
from recbole_dcr.model.nfmwoa import NFMWOA

__all__ = ["DCRMoE", "NFMWA", "NFMWOA"]
