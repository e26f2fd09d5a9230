"""recbole_dcr: Deconfounding Causal Recommendation (DCR) as a RecBole plugin.

The public names are imported on first use, so that ``recbole-dcr --help`` and the dataset
converters start without loading torch and RecBole.
"""

from importlib import import_module

from recbole_dcr.version import __version__

_PUBLIC = {
    "Config": "recbole_dcr.config",
    "create_dataset": "recbole_dcr.data",
    "data_preparation": "recbole_dcr.data",
    "get_model": "recbole_dcr.registry",
    "get_trainer": "recbole_dcr.registry",
    "objective_function": "recbole_dcr.quick_start",
    "run": "recbole_dcr.quick_start",
    "run_recbole_dcr": "recbole_dcr.quick_start",
}

__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'recbole_dcr' has no attribute {name!r}")
