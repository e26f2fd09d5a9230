"""recbole_dcr models, one per file; names are resolved by :mod:`recbole_dcr.registry`."""
