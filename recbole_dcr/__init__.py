"""recbole_dcr: Deconfounding Causal Recommendation (DCR) as a RecBole plugin."""

from recbole_dcr.config import Config
from recbole_dcr.quick_start import objective_function, run_recbole_dcr
from recbole_dcr.utils import create_dataset, data_preparation, get_model, get_trainer
from recbole_dcr.version import __version__

__all__ = [
    "Config",
    "create_dataset",
    "data_preparation",
    "get_model",
    "get_trainer",
    "objective_function",
    "run_recbole_dcr",
]
