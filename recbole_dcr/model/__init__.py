"""recbole_dcr models; each is resolved by name through :func:`recbole_dcr.utils.get_model`."""

from recbole_dcr.model.cr import CR
from recbole_dcr.model.dcr import DCR
from recbole_dcr.model.dcrmoe import DCRMoE
from recbole_dcr.model.dcrnfm import DCRNFM
from recbole_dcr.model.fairgo import FairGo
from recbole_dcr.model.ipw import IPW
from recbole_dcr.model.moe import MoE
from recbole_dcr.model.nfmwa import NFMWA
from recbole_dcr.model.nfmwoa import NFMWOA
from recbole_dcr.model.nwgmdcr import NWGMDCR

__all__ = ["DCRMoE", "DCRNFM", "NWGMDCR", "MoE", "NFMWA", "NFMWOA", "IPW", "FairGo", "CR", "DCR"]
