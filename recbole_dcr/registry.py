"""Model names: the plugin's models and RecBole's context-aware models, each resolved explicitly.

RecBole's own ``get_model`` searches its model packages by importing them, its exlib models
(lightgbm, xgboost) included, so a mistyped name ends in ``No module named 'lightgbm'``.  Here every
name maps to one ``module:class``, imported only when asked for, and an unknown name gets one line
with the closest names.  A leaf of the import graph: it imports nothing of recbole_dcr at import time.
"""

import difflib
import importlib
import importlib.util
from contextlib import contextmanager

PLUGIN_MODELS = {
    "DCRMoE": "recbole_dcr.model.dcrmoe:DCRMoE",
    "MoE": "recbole_dcr.model.moe:MoE",
    "DCRNFM": "recbole_dcr.model.dcrnfm:DCRNFM",
    "NWGMDCR": "recbole_dcr.model.nwgmdcr:NWGMDCR",
    "NFMWA": "recbole_dcr.model.nfmwa:NFMWA",
    "NFMWOA": "recbole_dcr.model.nfmwoa:NFMWOA",
    "IPW": "recbole_dcr.model.ipw:IPW",
    "FairGo": "recbole_dcr.model.fairgo:FairGo",
    "CR": "recbole_dcr.model.cr:CR",
    "DCR": "recbole_dcr.model.dcr:DCR",
}

# RecBole's context-aware (feature-based) models, the only RecBole models that rank labeled rows.
_RECBOLE_CONTEXT = "recbole.model.context_aware_recommender"
RECBOLE_MODELS = {
    name: f"{_RECBOLE_CONTEXT}.{name.lower()}:{name}"
    for name in ("AFM", "AutoInt", "DCN", "DCNV2", "DeepFM", "DSSM", "EulerNet", "FFM", "FiGNN", "FM", "FNN",
                 "FwFM", "KD_DAGFM", "LR", "NFM", "PNN", "WideDeep", "xDeepFM")
}

MODELS = {**PLUGIN_MODELS, **RECBOLE_MODELS}

TRAINERS = {"FairGo": "recbole_dcr.trainer:FairGoTrainer"}
DEFAULT_TRAINER = "recbole_dcr.trainer:DCRTrainer"

WHERE_LISTED = "`recbole-dcr train --list-models` lists them (docs/models.md)"

# RecBole's model packages of other kinds; a name found there gets a sentence of its own.
_OTHER_RECBOLE_KINDS = {
    "general": "recbole.model.general_recommender",
    "sequential": "recbole.model.sequential_recommender",
    "knowledge-aware": "recbole.model.knowledge_aware_recommender",
}


class UnknownModelError(ValueError):
    """A model name that is neither a plugin model nor a RecBole context-aware model."""


class SettingError(ValueError):
    """A config value that a model or trainer refused while it was built; the message says which and the fix."""


@contextmanager
def refused_settings(what):
    """Turn the ValueError a model's or trainer's ``__init__`` raises for a bad key into a SettingError
    naming ``what`` (the command prints it as one line instead of a traceback)."""
    try:
        yield
    except SettingError:
        raise
    except ValueError as error:
        if isinstance(error, UnknownModelError):
            raise
        raise SettingError(f"{what}: {error}") from None


def _load(target):
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def closest_names(name, names, n=3):
    """Up to ``n`` of ``names`` closest to ``name``, case-insensitively."""
    by_lower = {candidate.lower(): candidate for candidate in names}
    if name.lower() in by_lower:  # only the case is off
        return [by_lower[name.lower()]]
    return [by_lower[m] for m in difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.6)]


def did_you_mean(name, names):
    """' (did you mean X?)' or ''."""
    close = closest_names(name, names)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def _other_recbole_kind(name):
    for kind, package in _OTHER_RECBOLE_KINDS.items():
        try:
            if importlib.util.find_spec(f"{package}.{name.lower()}") is not None:
                return kind
        except ModuleNotFoundError:
            continue
    return None


def unknown_model_message(name):
    kind = _other_recbole_kind(name)
    if kind:
        return (f"model '{name}' is a RecBole {kind} model; recbole_dcr ranks labeled rows with context-aware "
                f"(feature-based) models only; {WHERE_LISTED}")
    return f"unknown model '{name}'{did_you_mean(name, MODELS)}; {WHERE_LISTED}"


def get_model(name):
    """The model class called ``name``: a plugin model, or a RecBole context-aware model."""
    if name not in MODELS:
        raise UnknownModelError(unknown_model_message(name))
    return _load(MODELS[name])


def get_trainer(model_type, model_name):
    """The trainer class of ``model_name`` (``model_type`` is kept for RecBole's signature)."""
    return _load(TRAINERS.get(model_name, DEFAULT_TRAINER))
